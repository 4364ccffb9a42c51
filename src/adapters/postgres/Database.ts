import { SqlClient, type SqlError } from "@effect/sql"
import { Duration, Effect, Either, Layer, Option, Redacted, Schedule, type Scope } from "effect"
import { describeError } from "../../domain/describeError.js"
import { HealthChecks } from "../../ports/HealthChecks.js"
import { Lifecycle } from "../../ports/Lifecycle.js"
import { discardPrestartedEmbeddedPostgres, startEmbeddedPostgres } from "../pglite/EmbeddedPostgres.js"
import { EMBEDDED_MAX_CONNECTIONS } from "../pglite/EmbeddedPostgresWorker.js"
import { type DatabaseSettings, config as databaseConfig } from "./DatabaseConfig.js"
import { loadMigrations, runMigrations } from "./Migrations.js"
import { PgDatabaseLive } from "./PgDatabase.js"
import { sqlStateOf } from "./PgGuard.js"
import { seedUsers } from "./Seeds.js"

/** Host, port and database of a URL, for logs: never the user or the password. */
const describeUrl = (url: Redacted.Redacted<string>): string => {
  try {
    const parsed = new URL(Redacted.value(url))
    return `${parsed.hostname}${parsed.port ? `:${parsed.port}` : ""}${parsed.pathname}`
  } catch {
    return "(unparsable URL)"
  }
}

/** Postgres's "undefined_table": the migrations table is not there, so no migration was ever applied. */
const isUndefinedTable = (error: SqlError.SqlError): boolean => sqlStateOf(error.cause) === "42P01"

/**
 * The schema version the database is at: the highest migration applied (the migrator's own table,
 * `effect_sql_migrations`, the one the migrator reads), 0 when none ever was. One query; it also proves the
 * database answers.
 */
const appliedSchemaVersion = (sql: SqlClient.SqlClient): Effect.Effect<number, SqlError.SqlError> =>
  sql<{
    readonly version: number | string | null
  }>`SELECT max(migration_id) AS version FROM effect_sql_migrations`.pipe(
    Effect.map((rows) => Number(rows[0]?.version ?? 0)),
    Effect.catchIf(isUndefinedTable, () => Effect.succeed(0))
  )

/** DATABASE_DSN, or an embedded Postgres started for the scope. */
const databaseUrl = (
  config: DatabaseSettings
): Effect.Effect<{ readonly url: Redacted.Redacted<string>; readonly embedded: boolean }, never, Scope.Scope> =>
  Option.match(config.dsn, {
    onSome: (url) =>
      Effect.logInfo("Using Postgres").pipe(
        Effect.annotateLogs({ database: describeUrl(url) }),
        Effect.zipLeft(discardPrestartedEmbeddedPostgres),
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
export const DatabaseClientLive = (config: DatabaseSettings) =>
  Layer.unwrapScoped(
    Effect.map(databaseUrl(config), ({ url, embedded }) =>
      PgDatabaseLive({
        url,
        maxConnections: embedded ? Math.min(config.poolMaxOpen, EMBEDDED_MAX_CONNECTIONS) : config.poolMaxOpen,
        minConnections: config.poolMaxIdle,
        idleTimeout: config.idleTimeout,
        connectTimeout: config.connectTimeout,
        connectionTTL: config.poolMaxLifetime,
        statementTimeout: config.statementTimeout
      })
    )
  )

/**
 * The service's database: the client, then (connect, migrate when DATABASE_MIGRATE says so, seed the embedded
 * database). Built before the servers, so they open only once the service can answer correctly. With Postgres
 * down at start the service does not crash-loop: it keeps trying with backoff (up to 2 s apart), with nothing
 * listening yet, and opens both ports once it is done (the startup probe's budget covers the wait).
 * DATABASE_CONNECT_FAIL_FAST=true makes the start fail instead.
 */
export const DatabaseLive = (config: DatabaseSettings) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const lifecycle = yield* Lifecycle
      const embedded = Option.isNone(config.dsn)
      const migrate = Option.getOrElse(config.migrate, () => embedded)

      const prepareOnce = Effect.gen(function* () {
        yield* sql`SELECT 1`
        if (migrate) yield* runMigrations
        if (embedded) yield* seedUsers
      })
      // The version this code needs: its highest migration. Read once (a directory listing), not per check.
      const needed = yield* loadMigrations.pipe(
        Effect.map((migrations) => migrations.reduce((max, [id]) => Math.max(max, id), 0)),
        Effect.either
      )
      // Ready only on a schema this code can use: a database whose migrations were never applied answers
      // SELECT 1, and then every call fails ("relation "users" does not exist").
      const schemaCheck = Either.match(needed, {
        onLeft: (error) => Effect.fail(new Error(`cannot list the migrations: ${describeError(error)}`)),
        onRight: (version) =>
          Effect.flatMap(appliedSchemaVersion(sql), (applied) =>
            applied >= version
              ? Effect.void
              : Effect.fail(
                  new Error(`schema at ${applied}, needs ${version} (run npm run db:migrate, or DATABASE_MIGRATE=true)`)
                )
          )
      })
      if (config.connectFailFast) {
        yield* prepareOnce.pipe(Effect.orDie)
      } else {
        let attempts = 0
        yield* prepareOnce.pipe(
          Effect.tapError((error) => {
            attempts += 1
            const log = attempts === 1 ? Effect.logWarning : Effect.logDebug
            return log("Database not ready; retrying").pipe(
              Effect.annotateLogs({ attempt: attempts, error: describeError(error) })
            )
          }),
          Effect.retry(Schedule.exponential(Duration.millis(100)).pipe(Schedule.either(Schedule.spaced("2 seconds"))))
        )
        if (attempts > 0) yield* Effect.logInfo("Database ready")
      }
      // Prepared: nothing is served before this layer is built, so the check only ever sees a prepared database.
      yield* (yield* HealthChecks).register({ name: "database", critical: true, check: schemaCheck })
      yield* lifecycle.started("database")
    })
  ).pipe(Layer.provideMerge(DatabaseClientLive(config)))

export const layerConfig = Layer.unwrapEffect(Effect.map(databaseConfig, DatabaseLive))

/** The client alone, for the CLI commands (migrate, seed) that prepare the database themselves. */
export const clientLayerConfig = Layer.unwrapEffect(Effect.map(databaseConfig, DatabaseClientLive))
