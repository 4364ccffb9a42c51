import { PgClient } from "@effect/sql-pg"
import { Duration, Redacted } from "effect"

export interface PgDatabaseOptions {
  readonly url: Redacted.Redacted<string>
  readonly maxConnections: number
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

/** The SqlClient (node-postgres pool). Building it connects once, so a wrong URL fails the start at once. */
export const PgDatabaseLive = (options: PgDatabaseOptions) =>
  PgClient.layer({
    url: Redacted.make(withStatementTimeout(Redacted.value(options.url), options.statementTimeout)),
    maxConnections: options.maxConnections,
    idleTimeout: options.idleTimeout,
    connectTimeout: options.connectTimeout,
    connectionTTL: options.connectionTTL,
    applicationName: "effect-microservice"
  })
