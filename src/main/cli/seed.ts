import { NodeRuntime } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { DatabaseClientLive } from "../../adapters/postgres/Database.js"
import { runMigrations } from "../../adapters/postgres/Migrations.js"
import { seedUsers } from "../../adapters/postgres/Seeds.js"
import { InvalidConfiguration, loadConfig, runEntryPoint } from "../Main.js"

// npm run db:seed: inserts the development users (Alice, Bob). Running it again changes nothing.
const program = Effect.gen(function* () {
  const config = yield* loadConfig
  // Without a DSN or an embedded directory the database would be an in-memory one, gone when this command ends:
  // seeding it would report success and change nothing. Refuse, naming what to set.
  if (Option.isNone(config.database.dsn) && Option.isNone(config.database.embeddedDir))
    return yield* new InvalidConfiguration({
      problems: [
        "DATABASE_DSN: set it (or DATABASE_EMBEDDED_DIR) to seed a database that outlives this command; the service seeds its in-memory embedded database at every start"
      ]
    })
  // An embedded database may be brand new: give it its tables first.
  const prepare = Option.isNone(config.database.dsn) ? runMigrations : Effect.void
  yield* Effect.zipRight(prepare, seedUsers).pipe(Effect.provide(DatabaseClientLive(config.database)))
})

NodeRuntime.runMain(runEntryPoint(program), { disableErrorReporting: true, disablePrettyLogger: true })
