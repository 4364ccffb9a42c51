import { SqlClient } from "@effect/sql"
import { Duration, Effect, Layer, Option, Redacted, Schedule, type Scope } from "effect"
import { startEmbeddedPostgres } from "../adapters/pglite/EmbeddedPostgres.js"
import { runMigrations } from "../adapters/postgres/Migrations.js"
import { PgDatabaseLive } from "../adapters/postgres/PgDatabase.js"
import { seedUsers } from "../adapters/postgres/Seeds.js"
import { HealthChecks } from "../ports/HealthChecks.js"
import type { AppConfig } from "./Config.js"
import { Lifecycle } from "./Lifecycle.js"

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

/** DATABASE_DSN, or an embedded Postgres started for the scope. */
const databaseUrl = (
  config: AppConfig["database"]
): Effect.Effect<{ readonly url: Redacted.Redacted<string>; readonly embedded: boolean }, never, Scope.Scope> =>
  Option.match(config.dsn, {
    onSome: (url) =>
      Effect.logInfo("Using Postgres").pipe(
        Effect.annotateLogs({ database: describeUrl(url) }),
        Effect.as({ url, embedded: false })
      ),
    onNone: () =>
      startEmbeddedPostgres({ dataDir: config.embeddedDir, maxConnections: EMBEDDED_MAX_CONNECTIONS }).pipe(
        Effect.tap(() =>
          Effect.logInfo(
            "Using the embedded Postgres (PGlite) for development; set DATABASE_DSN=postgres://user:password@host:5432/db to use a real database"
          ).pipe(Effect.annotateLogs({ storage: Option.getOrElse(config.embeddedDir, () => "memory") }))
        ),
        Effect.map((url) => ({ url, embedded: true }))
      )
  })

/** The SqlClient on DATABASE_DSN or the embedded Postgres. Does not connect when built. */
export const DatabaseClientLive = (config: AppConfig["database"]) =>
  Layer.unwrapScoped(
    Effect.map(databaseUrl(config), ({ url, embedded }) =>
      PgDatabaseLive({
        url,
        maxConnections: embedded ? Math.min(config.poolMaxOpen, EMBEDDED_MAX_CONNECTIONS) : config.poolMaxOpen,
        idleTimeout: config.idleTimeout,
        connectTimeout: config.connectTimeout,
        connectionTTL: config.poolMaxLifetime,
        statementTimeout: config.statementTimeout
      })
    )
  )

/**
 * The service's database: the client, then (connect, migrate when DATABASE_MIGRATE says so, seed the embedded
 * database). With Postgres down at start the service does not crash-loop: it keeps trying with backoff (up to
 * 2 s apart) and the "database" step of startup and the critical "database" health check pass once it is done.
 * DATABASE_CONNECT_FAIL_FAST=true makes the start fail instead.
 */
export const DatabaseLive = (config: AppConfig["database"]) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const lifecycle = yield* Lifecycle
      const embedded = Option.isNone(config.dsn)
      const migrate = Option.getOrElse(config.migrate, () => embedded)
      let prepared = false

      const prepareOnce = Effect.gen(function* () {
        yield* sql`SELECT 1`
        if (migrate) yield* runMigrations
        if (embedded) yield* seedUsers
      })
      const ready = Effect.zipRight(
        Effect.sync(() => {
          prepared = true
        }),
        lifecycle.started("database")
      )

      yield* (yield* HealthChecks).register({
        name: "database",
        critical: true,
        check: Effect.suspend(() =>
          prepared ? Effect.asVoid(sql`SELECT 1`) : Effect.fail(new Error("not connected and migrated yet"))
        )
      })

      if (config.connectFailFast) {
        yield* prepareOnce.pipe(Effect.orDie)
        return yield* ready
      }
      let attempts = 0
      yield* prepareOnce.pipe(
        Effect.tapError((error) => {
          attempts += 1
          const log = attempts === 1 ? Effect.logWarning : Effect.logDebug
          return log("Database not ready; retrying").pipe(
            Effect.annotateLogs({ attempt: attempts, error: String(error) })
          )
        }),
        Effect.retry(Schedule.exponential(Duration.millis(100)).pipe(Schedule.either(Schedule.spaced("2 seconds")))),
        Effect.zipRight(ready),
        Effect.zipRight(Effect.suspend(() => (attempts > 0 ? Effect.logInfo("Database ready") : Effect.void))),
        Effect.forkScoped
      )
    })
  ).pipe(Layer.provideMerge(DatabaseClientLive(config)))
