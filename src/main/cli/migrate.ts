import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import * as Database from "../../adapters/postgres/Database.js"
import { runMigrations } from "../../adapters/postgres/Migrations.js"
import { loadConfig } from "../Config.js"
import { runEntryPoint } from "../Main.js"
import { requireDurableDatabase } from "./durableDatabase.js"

// npm run db:migrate: applies pending migrations to the configured database (DATABASE_DSN, else the embedded one).
const program = Effect.gen(function* () {
  const config = yield* loadConfig
  yield* requireDurableDatabase(config.database, "migrate")
  yield* runMigrations.pipe(Effect.provide(Database.clientLayerConfig))
})

NodeRuntime.runMain(runEntryPoint(program), { disableErrorReporting: true, disablePrettyLogger: true })
