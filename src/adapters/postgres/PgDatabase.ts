import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Redacted } from "effect"
import Pg from "pg"
import { trackPool } from "./PgMetrics.js"

export interface PgDatabaseOptions {
  readonly url: Redacted.Redacted<string>
  readonly maxConnections: number
  /** Connections kept open when idle; the rest close after `idleTimeout`. */
  readonly minConnections?: number | undefined
  readonly idleTimeout: Duration.Duration
  readonly connectTimeout: Duration.Duration
  readonly connectionTTL: Duration.Duration
  /** Sent as the session's statement_timeout unless the URL already sets one. */
  readonly statementTimeout: Duration.Duration
}

/** Adds `statement_timeout` to a connection URL; node-postgres sends URL parameters it knows at connect. */
export const withStatementTimeout = (url: string, timeout: Duration.Duration): string =>
  /[?&]statement_timeout=/.test(url) || Duration.toMillis(timeout) === 0
    ? url
    : `${url}${url.includes("?") ? "&" : "?"}statement_timeout=${Math.round(Duration.toMillis(timeout))}`

/**
 * The SqlClient on a node-postgres pool. Building it does not connect: the service can start while Postgres is
 * down, answer UNAVAILABLE and report not ready, and work as soon as Postgres answers (see app/Database.ts).
 */
export const PgDatabaseLive = (options: PgDatabaseOptions) =>
  PgClient.layerFromPool({
    applicationName: "effect-microservice",
    acquire: Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new Pg.Pool({
          connectionString: withStatementTimeout(Redacted.value(options.url), options.statementTimeout),
          max: options.maxConnections,
          min: Math.min(options.minConnections ?? 0, options.maxConnections),
          idleTimeoutMillis: Duration.toMillis(options.idleTimeout),
          connectionTimeoutMillis: Duration.toMillis(options.connectTimeout),
          maxLifetimeSeconds: Duration.toSeconds(options.connectionTTL),
          application_name: "effect-microservice"
        })
        // An idle connection that breaks (server restart) is dropped by the pool; without a listener Node would crash.
        pool.on("error", () => {})
        trackPool(pool)
        return pool
      }),
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption("2 seconds"))
    )
  })
