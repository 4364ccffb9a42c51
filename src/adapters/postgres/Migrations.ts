import { readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { NodeContext } from "@effect/platform-node"
import { Migrator } from "@effect/sql"
import { PgMigrator } from "@effect/sql-pg"
import { Effect } from "effect"

/** Where migration files live: `<number>_<name>.ts` (compiled to .js), each default-exporting an Effect. */
export const migrationsDirectory = fileURLToPath(new URL("./migrations", import.meta.url))

const MIGRATION_FILE = /^(\d+)_([^.]+)\.(js|ts)$/

/**
 * The migration files of migrationsDirectory, in id order. Like Migrator.fromFileSystem, but the import() is in
 * this module, so whatever runs our code loads them: node for dist/*.js, tsx or vitest for src/*.ts (an import()
 * inside node_modules would bypass their TypeScript loaders).
 */
export const loadMigrations: Migrator.Loader = Effect.try({
  try: () =>
    readdirSync(migrationsDirectory)
      .flatMap((file): ReadonlyArray<Migrator.ResolvedMigration> => {
        const match = MIGRATION_FILE.exec(file)
        if (match === null) return []
        const [, id = "", name = ""] = match
        return [[Number(id), name, Effect.promise(() => import(`${migrationsDirectory}/${file}`))]]
      })
      .sort(([a], [b]) => a - b),
  catch: (cause) =>
    new Migrator.MigrationError({ reason: "failed", message: `Cannot list migrations: ${String(cause)}` })
})

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
