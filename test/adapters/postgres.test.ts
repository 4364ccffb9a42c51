import { SqlClient } from "@effect/sql"
import { assert, describe, layer } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { inject } from "vitest"
import { runMigrations } from "../../src/adapters/postgres/Migrations.js"
import { PgAuditLogLive } from "../../src/adapters/postgres/PgAuditLog.js"
import { PgUserRepositoryLive } from "../../src/adapters/postgres/PgUserRepository.js"
import { seedUsers } from "../../src/adapters/postgres/Seeds.js"
import { HealthChecksLive } from "../../src/app/Health.js"
import { EmbeddedDatabaseUrl, HarnessDatabaseUrl, migratedClient } from "../support/TestDatabase.js"
import { auditLogContract } from "./AuditLog.contract.js"
import { userRepositoryContract } from "./UserRepository.contract.js"

const repository = PgUserRepositoryLive({
  breakerThreshold: 5,
  breakerResetAfter: Duration.seconds(2),
  readRetries: 2
}).pipe(Layer.provide(HealthChecksLive))
const embedded = migratedClient(EmbeddedDatabaseUrl)
const harness = migratedClient(HarnessDatabaseUrl)

userRepositoryContract("Postgres adapter on the embedded Postgres (PGlite)", repository.pipe(Layer.provide(embedded)))
userRepositoryContract("Postgres adapter on the harness Postgres", repository.pipe(Layer.provide(harness)))

const auditLog = PgAuditLogLive.pipe(Layer.provide(HealthChecksLive))
auditLogContract("Postgres adapter on the embedded Postgres (PGlite)", auditLog.pipe(Layer.provide(embedded)))
auditLogContract("Postgres adapter on the harness Postgres", auditLog.pipe(Layer.provide(harness)))

layer(harness, { timeout: "60 seconds", excludeTestServices: true })("migrations and seeds", (it) => {
  it.effect("migrations create the Go service's users table and are not applied twice", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const columns = yield* sql<{ column_name: string; data_type: string; is_nullable: string }>`
        SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_name = 'users' ORDER BY ordinal_position`
      assert.deepStrictEqual(
        columns.map((c) => `${c.column_name} ${c.data_type} ${c.is_nullable}`),
        [
          "id bigint NO",
          "name character varying NO",
          "email character varying NO",
          "created_at timestamp with time zone NO",
          "updated_at timestamp with time zone NO"
        ]
      )
      assert.deepStrictEqual(yield* runMigrations, [])
    })
  )

  it.effect("seeding twice inserts Alice and Bob once, and later inserts get fresh ids", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* seedUsers
      yield* seedUsers
      const rows = yield* sql<{ id: string; name: string; email: string }>`
        SELECT id, name, email FROM users WHERE email IN ('alice@example.com', 'bob@example.com') ORDER BY id`
      assert.deepStrictEqual(rows, [
        { id: "1", name: "Alice", email: "alice@example.com" },
        { id: "2", name: "Bob", email: "bob@example.com" }
      ])
      const [next] = yield* sql<{
        id: string
      }>`INSERT INTO users (name, email) VALUES ('Next', 'next@example.com') RETURNING id`
      assert.isTrue(BigInt(next?.id ?? "0") > 2n)
    })
  )
})

// PGlite ignores the statement_timeout startup parameter (its one WebAssembly backend cannot time statements out).
describe.runIf(inject("postgresSource") !== "embedded")("statement timeout on a Postgres server", () => {
  layer(harness, { timeout: "60 seconds", excludeTestServices: true })("sessions", (it) => {
    it.effect("run with the configured statement_timeout", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const [row] = yield* sql<{ statement_timeout: string }>`SHOW statement_timeout`
        assert.strictEqual(row?.statement_timeout, "5s")
      })
    )
  })
})
