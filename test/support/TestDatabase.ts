import { randomBytes } from "node:crypto"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Context, Duration, Effect, Layer, Logger, LogLevel, Option, Redacted } from "effect"
import { inject } from "vitest"
import { startEmbeddedPostgres } from "../../src/adapters/pglite/EmbeddedPostgres.js"
import { runMigrations } from "../../src/adapters/postgres/Migrations.js"
import { PgDatabaseLive } from "../../src/adapters/postgres/PgDatabase.js"

/** The URL of a database that exists only for this suite. */
export class FreshDatabaseUrl extends Context.Tag("test/FreshDatabaseUrl")<
  FreshDatabaseUrl,
  { readonly url: Redacted.Redacted<string>; readonly source: string }
>() {}

const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/** A new, empty database on a Postgres server, dropped (with its connections) when the scope closes. */
const onServer = (adminUrl: string, source: string) =>
  Layer.scoped(
    FreshDatabaseUrl,
    Effect.gen(function* () {
      const admin = yield* SqlClient.SqlClient
      const name = `test_${process.pid}_${randomBytes(4).toString("hex")}`
      yield* Effect.acquireRelease(admin.unsafe(`CREATE DATABASE ${name}`), () =>
        admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.orDie)
      )
      return { url: Redacted.make(withDatabase(adminUrl, name)), source }
    }).pipe(Effect.orDie)
  ).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 }).pipe(Layer.orDie)))

/** A fresh embedded Postgres (PGlite) for this suite alone. */
export const EmbeddedDatabaseUrl = Layer.scoped(
  FreshDatabaseUrl,
  startEmbeddedPostgres({ dataDir: Option.none(), maxConnections: 4 }).pipe(
    Effect.map((url) => ({ url, source: "embedded" }))
  )
)

/** A fresh database from the source the harness chose (see globalSetup). */
export const HarnessDatabaseUrl = Layer.suspend(() => {
  const adminUrl = inject("postgresAdminUrl")
  return adminUrl === "" ? EmbeddedDatabaseUrl : onServer(adminUrl, inject("postgresSource"))
})

/** The test's own SqlClient on the suite's fresh database (FreshDatabaseUrl), as it is: not migrated. */
export const DatabaseClient = (maxConnections: { readonly embedded: number; readonly server: number }) =>
  Layer.unwrapEffect(
    Effect.map(FreshDatabaseUrl, ({ url, source }) =>
      PgDatabaseLive({
        url,
        maxConnections: source === "embedded" ? maxConnections.embedded : maxConnections.server,
        idleTimeout: Duration.seconds(30),
        connectTimeout: Duration.seconds(5),
        connectionTTL: Duration.minutes(10),
        statementTimeout: Duration.seconds(5)
      })
    )
  )

/** A migrated SqlClient on the given fresh database. */
export const migratedClient = (database: Layer.Layer<FreshDatabaseUrl>) =>
  // Quiet only the migration itself: a log-level Layer here would leak into every layer built after it.
  Layer.effectDiscard(runMigrations.pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).pipe(
    Layer.provideMerge(DatabaseClient({ embedded: 4, server: 5 })),
    Layer.provideMerge(database)
  )

export type MigratedClient = SqlClient.SqlClient | PgClient.PgClient | FreshDatabaseUrl
