import { fileURLToPath } from "node:url"
import { NodeContext } from "@effect/platform-node"
import { PgMigrator } from "@effect/sql-pg"
import { Effect, Layer } from "effect"

/** Where migration files live: `<number>_<name>.ts` (compiled to .js), each default-exporting an Effect. */
export const migrationsDirectory = fileURLToPath(new URL("./migrations", import.meta.url))

/** Applies pending migrations (tracked in `effect_sql_migrations`, under a table lock so replicas can race). */
export const runMigrations = PgMigrator.run({ loader: PgMigrator.fromFileSystem(migrationsDirectory) }).pipe(
  Effect.tap((applied) =>
    applied.length === 0
      ? Effect.logInfo("Database schema is up to date")
      : Effect.logInfo("Migrations applied").pipe(
          Effect.annotateLogs({ migrations: applied.map(([id, name]) => `${id}_${name}`) })
        )
  ),
  Effect.provide(NodeContext.layer),
  Effect.withSpan("Database.migrate")
)

/** Runs the migrations when built, before any layer that depends on the database. */
export const MigrationsLive = Layer.effectDiscard(runMigrations)
