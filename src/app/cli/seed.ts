import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { seedUsers } from "../../adapters/postgres/Seeds.js"
import { DatabaseLive } from "../Database.js"
import { loadConfig, runEntryPoint } from "../Main.js"

// npm run db:seed: inserts the development users (Alice, Bob). Running it again changes nothing.
const program = Effect.gen(function* () {
  const config = yield* loadConfig
  yield* seedUsers.pipe(Effect.provide(DatabaseLive(config.database)))
})

NodeRuntime.runMain(runEntryPoint(program), { disableErrorReporting: true, disablePrettyLogger: true })
