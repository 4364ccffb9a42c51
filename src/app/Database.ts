import { Effect, Layer, Option, Redacted } from "effect"
import { startEmbeddedPostgres } from "../adapters/pglite/EmbeddedPostgres.js"
import { runMigrations } from "../adapters/postgres/Migrations.js"
import { PgDatabaseLive } from "../adapters/postgres/PgDatabase.js"
import { seedUsers } from "../adapters/postgres/Seeds.js"
import type { AppConfig } from "./Config.js"

// PGlite runs one backend: a few connections are enough, and the pool must not exceed what the socket accepts.
const EMBEDDED_MAX_CONNECTIONS = 4

/** Host, port and database of a URL, for logs: never the user or the password. */
const describeUrl = (url: Redacted.Redacted<string>): string => {
  try {
    const parsed = new URL(Redacted.value(url))
    return `${parsed.hostname}${parsed.port ? `:${parsed.port}` : ""}${parsed.pathname}`
  } catch {
    return "(unparsable URL)"
  }
}

/**
 * The SqlClient: on DATABASE_DSN when set, else on an embedded Postgres. Migrations run when the layer is built
 * if DATABASE_MIGRATE says so (default: on for the embedded database, off otherwise); the embedded database is
 * also seeded, so a fresh `npm start` answers at once.
 */
export const DatabaseLive = (config: AppConfig["database"]) =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const embedded = Option.isNone(config.dsn)
      const url = Option.isSome(config.dsn)
        ? config.dsn.value
        : yield* startEmbeddedPostgres({ dataDir: config.embeddedDir, maxConnections: EMBEDDED_MAX_CONNECTIONS })
      if (embedded) {
        yield* Effect.logInfo(
          "Using the embedded Postgres (PGlite) for development; set DATABASE_DSN=postgres://user:password@host:5432/db to use a real database"
        ).pipe(Effect.annotateLogs({ storage: Option.getOrElse(config.embeddedDir, () => "memory") }))
      } else {
        yield* Effect.logInfo("Using Postgres").pipe(Effect.annotateLogs({ database: describeUrl(url) }))
      }
      const client = PgDatabaseLive({
        url,
        maxConnections: embedded ? Math.min(config.poolMaxOpen, EMBEDDED_MAX_CONNECTIONS) : config.poolMaxOpen,
        idleTimeout: config.idleTimeout,
        connectTimeout: config.connectTimeout,
        connectionTTL: config.poolMaxLifetime,
        statementTimeout: config.statementTimeout
      })
      const migrate = Option.getOrElse(config.migrate, () => embedded)
      const prepare = migrate ? (embedded ? Effect.zipRight(runMigrations, seedUsers) : runMigrations) : Effect.void
      return Layer.effectDiscard(prepare).pipe(Layer.provideMerge(client))
    })
  )
