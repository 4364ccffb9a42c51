import { existsSync, readdirSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { migrationsDirectory } from "../../adapters/postgres/Migrations.js"

// npm run db:migrate:create NAME: writes the next numbered migration file, ready to edit.
const name = process.argv[2] ?? ""
if (!/^[a-z][a-z0-9_]{0,62}$/.test(name)) {
  console.error("Usage: npm run db:migrate:create <name>   (lower case, digits and underscores, e.g. add_users_phone)")
  process.exit(2)
}
const ids = readdirSync(migrationsDirectory)
  .map((file) => /^(\d+)_/.exec(file)?.[1])
  .filter((id): id is string => id !== undefined)
  .map(Number)
const file = join(migrationsDirectory, `${String(Math.max(0, ...ids) + 1).padStart(4, "0")}_${name}.ts`)
if (existsSync(file)) {
  console.error(`${file} exists already`)
  process.exit(1)
}
writeFileSync(
  file,
  `import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Runs once, in a transaction, in id order with the other migrations. Never edit a migration that has shipped:
// add a new one instead.
export default Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql\`
    -- your DDL here, e.g. ALTER TABLE users ADD COLUMN phone VARCHAR(32)
  \`
)
`
)
console.log(`Created ${relative(process.cwd(), file)}`)
