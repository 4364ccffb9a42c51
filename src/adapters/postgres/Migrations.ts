import { fileURLToPath } from "node:url"
import { NodeContext } from "@effect/platform-node"
import type { Migrator } from "@effect/sql"
import { PgMigrator } from "@effect/sql-pg"
import { Effect } from "effect"
import { migrations } from "./migrations/index.js"

/** Where migration files live in the sources: `<number>_<name>.ts`, each default-exporting an Effect. */
export const migrationsDirectory = fileURLToPath(new URL("./migrations", import.meta.url))

/** The migrations of migrations/index.ts, in id order, each loaded when the migrator runs it. */
export const loadMigrations: Migrator.Loader = Effect.sync(() =>
  migrations
    .map(([id, name, load]): Migrator.ResolvedMigration => [id, name, Effect.promise(load)])
    .sort(([a], [b]) => a - b)
)

/** Applies pending migrations (tracked in `effect_sql_migrations`, under a table lock so replicas can race). */
export const runMigrations = PgMigrator.run({ loader: loadMigrations }).pipe(
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
