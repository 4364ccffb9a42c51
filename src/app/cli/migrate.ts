import { NodeRuntime } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { runMigrations } from "../../adapters/postgres/Migrations.js"
import { DatabaseClientLive } from "../Database.js"
import { loadConfig, runEntryPoint } from "../Main.js"

// npm run db:migrate: applies pending migrations to the configured database (DATABASE_DSN, else the embedded one).
const program = Effect.gen(function* () {
  const config = yield* loadConfig
  if (Option.isNone(config.database.dsn) && Option.isNone(config.database.embeddedDir)) {
    yield* Effect.logWarning(
      "DATABASE_DSN is not set: migrating a throwaway in-memory embedded database (the service migrates it at every start)"
    )
  }
  yield* runMigrations.pipe(Effect.provide(DatabaseClientLive(config.database)))
})

NodeRuntime.runMain(runEntryPoint(program), { disableErrorReporting: true, disablePrettyLogger: true })
