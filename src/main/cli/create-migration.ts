import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
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
const id = Math.max(0, ...ids) + 1
const base = `${String(id).padStart(4, "0")}_${name}`
const file = join(migrationsDirectory, `${base}.ts`)
const index = join(migrationsDirectory, "index.ts")
const listed = readFileSync(index, "utf8")
const end = listed.lastIndexOf("\n]")
if (end === -1) {
  console.error(`${index}: cannot find the end of the migrations list`)
  process.exit(1)
}
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
// The new migration's line in migrations/index.ts, after the last one.
writeFileSync(index, `${listed.slice(0, end)},\n  [${id}, "${name}", () => import("./${base}.js")]${listed.slice(end)}`)
console.log(`Created ${relative(process.cwd(), file)} and listed it in ${relative(process.cwd(), index)}`)
