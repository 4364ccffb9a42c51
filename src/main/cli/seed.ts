import { NodeRuntime } from "@effect/platform-node"
import { Effect, Option } from "effect"
import * as Database from "../../adapters/postgres/Database.js"
import { runMigrations } from "../../adapters/postgres/Migrations.js"
import { seedUsers } from "../../adapters/postgres/Seeds.js"
import { loadConfig } from "../Config.js"
import { runEntryPoint } from "../Main.js"
import { requireDurableDatabase } from "./durableDatabase.js"

// npm run db:seed: inserts the development users (Alice, Bob). Running it again changes nothing.
const program = Effect.gen(function* () {
  const config = yield* loadConfig
  yield* requireDurableDatabase(config.database, "seed")
  // An embedded database may be brand new: give it its tables first.
  const prepare = Option.isNone(config.database.dsn) ? runMigrations : Effect.void
  yield* Effect.zipRight(prepare, seedUsers).pipe(Effect.provide(Database.clientLayerConfig))
})

NodeRuntime.runMain(runEntryPoint(program), { disableErrorReporting: true, disablePrettyLogger: true })
