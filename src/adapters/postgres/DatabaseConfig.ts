import { Config, Duration } from "effect"
import { duration, intInRange, postgresUrl } from "../config/Settings.js"

// The Postgres adapters' settings (Database.ts, PgDatabase.ts, PgGuard.ts): the Go service's names where they apply.

export const config = Config.all({
  connectFailFast: Config.boolean("DATABASE_CONNECT_FAIL_FAST").pipe(Config.withDefault(false)),
  /** Unset: the embedded Postgres (see Database.ts). */
  dsn: postgresUrl("DATABASE_DSN").pipe(Config.option),
  driver: Config.literal("postgres")("DATABASE_DRIVER").pipe(Config.withDefault("postgres" as const)),
  migrate: Config.boolean("DATABASE_MIGRATE").pipe(Config.option),
  embeddedDir: Config.string("DATABASE_EMBEDDED_DIR").pipe(Config.option),
  poolMaxOpen: intInRange("DATABASE_POOL_MAX_OPEN", 1, 1000).pipe(Config.withDefault(10)),
  /** Go's SetMaxIdleConns, as node-postgres' nearest: connections kept open when idle (the pool's `min`). */
  poolMaxIdle: intInRange("DATABASE_POOL_MAX_IDLE", 0, 1000).pipe(Config.withDefault(0)),
  poolMaxLifetime: duration("DATABASE_POOL_MAX_LIFETIME").pipe(Config.withDefault(Duration.hours(1))),
  idleTimeout: duration("DATABASE_POOL_IDLE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  connectTimeout: duration("DATABASE_CONNECT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(1))),
  statementTimeout: duration("DATABASE_STATEMENT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(2))),
  poolMaxWaiting: intInRange("DATABASE_POOL_MAX_WAITING", 0, 100_000).pipe(Config.withDefault(50)),
  breakerThreshold: intInRange("DATABASE_BREAKER_THRESHOLD", 1, 1000).pipe(Config.withDefault(5)),
  breakerReset: duration("DATABASE_BREAKER_RESET").pipe(Config.withDefault(Duration.seconds(2))),
  readRetries: intInRange("DATABASE_READ_RETRIES", 0, 10).pipe(Config.withDefault(2))
})
export type DatabaseSettings = Config.Config.Success<typeof config>
