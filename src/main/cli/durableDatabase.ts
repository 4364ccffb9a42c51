import { Effect, Option } from "effect"
import type { DatabaseSettings } from "../../adapters/postgres/DatabaseConfig.js"
import { InvalidConfiguration } from "../Config.js"

/**
 * db:migrate and db:seed work on a database that outlives them: without DATABASE_DSN or DATABASE_EMBEDDED_DIR it
 * would be an in-memory one, gone when the command ends, which would report success and change nothing. Refuses
 * then, naming what to set.
 */
export const requireDurableDatabase = (database: DatabaseSettings, verb: "migrate" | "seed") =>
  Option.isNone(database.dsn) && Option.isNone(database.embeddedDir)
    ? Effect.fail(
        new InvalidConfiguration({
          problems: [
            `DATABASE_DSN: set it (or DATABASE_EMBEDDED_DIR) to ${verb} a database that outlives this command; the service ${verb}s its in-memory embedded database at every start`
          ]
        })
      )
    : Effect.void
