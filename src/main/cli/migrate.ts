import { NodeRuntime } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { DatabaseClientLive } from "../../adapters/postgres/Database.js"
import { runMigrations } from "../../adapters/postgres/Migrations.js"
import { InvalidConfiguration, loadConfig, runEntryPoint } from "../Main.js"

// npm run db:migrate: applies pending migrations to the configured database (DATABASE_DSN, else the embedded one).
const program = Effect.gen(function* () {
  const config = yield* loadConfig
  // As db:seed: an in-memory database would be gone when this command ends. Refuse, naming what to set.
  if (Option.isNone(config.database.dsn) && Option.isNone(config.database.embeddedDir))
    return yield* new InvalidConfiguration({
      problems: [
        "DATABASE_DSN: set it (or DATABASE_EMBEDDED_DIR) to migrate a database that outlives this command; the service migrates its in-memory embedded database at every start"
      ]
    })
  yield* runMigrations.pipe(Effect.provide(DatabaseClientLive(config.database)))
})

NodeRuntime.runMain(runEntryPoint(program), { disableErrorReporting: true, disablePrettyLogger: true })
