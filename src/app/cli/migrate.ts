import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { DatabaseLive } from "../Database.js"
import { loadConfig, runEntryPoint } from "../Main.js"

// npm run db:migrate: applies pending migrations to the configured database (DATABASE_DSN, else the embedded one).
const program = Effect.gen(function* () {
  const config = yield* loadConfig
  if (Option.isNone(config.database.dsn) && Option.isNone(config.database.embeddedDir)) {
    yield* Effect.logWarning(
      "DATABASE_DSN is not set: migrating a throwaway in-memory embedded database (the service migrates it at every start)"
    )
  }
  yield* Layer.build(DatabaseLive({ ...config.database, migrate: Option.some(true) })).pipe(Effect.scoped)
})

NodeRuntime.runMain(runEntryPoint(program), { disableErrorReporting: true, disablePrettyLogger: true })
