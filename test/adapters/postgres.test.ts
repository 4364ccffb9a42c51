import { SqlClient } from "@effect/sql"
import { assert, describe, layer } from "@effect/vitest"
import { Duration, Effect, Layer, Option } from "effect"
import { inject } from "vitest"
import { HealthChecksLive } from "../../src/adapters/health/HealthChecks.js"
import { runMigrations } from "../../src/adapters/postgres/Migrations.js"
import { PgAuditLogLive } from "../../src/adapters/postgres/PgAuditLog.js"
import { PgGuard, PgGuardLive } from "../../src/adapters/postgres/PgGuard.js"
import { PgUserRepositoryLive } from "../../src/adapters/postgres/PgUserRepository.js"
import { seedUsers } from "../../src/adapters/postgres/Seeds.js"
import { Email, UserId, UserName } from "../../src/domain/User.js"
import { HealthChecks } from "../../src/ports/HealthChecks.js"
import { UserRepository } from "../../src/ports/UserRepository.js"
import { pollUntil } from "../support/poll.js"
import { EmbeddedDatabaseUrl, HarnessDatabaseUrl, migratedClient } from "../support/TestDatabase.js"
import { auditLogContract } from "./AuditLog.contract.js"
import { userRepositoryContract } from "./UserRepository.contract.js"

const guard = PgGuardLive({
  breakerThreshold: 5,
  breakerResetAfter: Duration.seconds(2),
  readRetries: 2,
  statementTimeout: Duration.seconds(5),
  maxPending: 100
}).pipe(Layer.provide(HealthChecksLive))
const repository = PgUserRepositoryLive({ idempotencyKeyTtl: Duration.hours(1) }).pipe(Layer.provide(guard))
const embedded = migratedClient(EmbeddedDatabaseUrl)
const harness = migratedClient(HarnessDatabaseUrl)

userRepositoryContract("Postgres adapter on the embedded Postgres (PGlite)", repository.pipe(Layer.provide(embedded)))
userRepositoryContract("Postgres adapter on the harness Postgres", repository.pipe(Layer.provide(harness)))

const auditLog = PgAuditLogLive.pipe(Layer.provide(guard), Layer.provide(HealthChecksLive))
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

// The guard's one table (PgGuard.ts): the database refusing what a caller sent is the caller's fault and must never
// open the breaker for everyone; a statement the server does not answer is the database's fault and must.
const shortGuard = PgGuardLive({
  breakerThreshold: 5,
  breakerResetAfter: Duration.seconds(1),
  readRetries: 2,
  statementTimeout: Duration.millis(500),
  maxPending: 100
})
layer(
  PgUserRepositoryLive({ idempotencyKeyTtl: Duration.hours(1) }).pipe(
    Layer.provideMerge(shortGuard),
    Layer.provideMerge(HealthChecksLive),
    Layer.provideMerge(Layer.effectDiscard(seedUsers).pipe(Layer.provideMerge(harness)))
  ),
  { timeout: "60 seconds", excludeTestServices: true }
)("the breaker counts only the database's faults", (it) => {
  const breakerDetail = Effect.flatMap(HealthChecks, (checks) => checks.runAll("1 second")).pipe(
    Effect.map((results) => results.find((result) => result.name === "database_breaker")?.error ?? "ok")
  )

  it.effect(
    "1,000 statements the database refuses as bad data or a taken email: the right errors, breaker closed",
    () =>
      Effect.gen(function* () {
        const users = yield* UserRepository
        // Straight to the adapter (the domain refuses NUL before it gets here): Postgres answers 22021 and 23505.
        const codes = yield* Effect.forEach(
          Array.from({ length: 1000 }, (_, i) => i),
          (i) =>
            Effect.flip(
              i % 2 === 0
                ? // Unchecked on purpose (make without validation): what the adapter does with input the use case would refuse.
                  users.insert({ name: UserName.make(`nul\u0000${i}`, true), email: Email.make(`nul${i}@example.com`) })
                : users.insert({ name: UserName.make(`dup${i}`), email: Email.make("alice@example.com") })
            ).pipe(Effect.map((error) => error._tag)),
          { concurrency: 10 }
        )
        assert.deepStrictEqual(
          {
            InvalidArgument: codes.filter((c) => c === "InvalidArgument").length,
            EmailTaken: codes.filter((c) => c === "EmailTaken").length
          },
          { InvalidArgument: 500, EmailTaken: 500 }
        )
        assert.strictEqual(yield* breakerDetail, "ok")
        assert.strictEqual(Option.getOrThrow(yield* users.findById(UserId.make(1n))).name, "Alice")
      })
  )

  it.effect("statements the server does not answer (a client-side timeout) open it; its probe closes it again", () =>
    Effect.gen(function* () {
      const guard = yield* PgGuard
      const sql = yield* SqlClient.SqlClient
      // The server is slower than the guard's 500 ms bound: as if it were frozen.
      const slow = guard.run("slow", sql`SELECT pg_sleep(10)`)
      const outcomes = yield* Effect.forEach(
        Array.from({ length: 5 }),
        () => Effect.flip(slow).pipe(Effect.map((error) => (error._tag === "PgFailure" ? error.kind : error._tag))),
        { concurrency: 5 }
      )
      assert.deepStrictEqual(outcomes, ["timeout", "timeout", "timeout", "timeout", "timeout"])
      assert.match(yield* breakerDetail, /open/)
      // Open: refused at once, without a statement.
      const started = performance.now()
      const refused = yield* Effect.flip(guard.run("quick", sql`SELECT 1`))
      assert.strictEqual(refused._tag, "BreakerOpen")
      assert.isBelow(performance.now() - started, 1000) // the tag says it was refused; the bound, that nothing waited
      // The database answers again (it always did): the background probe closes the breaker with no traffic.
      yield* pollUntil(breakerDetail, (detail) => detail === "ok", "10 seconds", "50 millis")
    })
  )
})
