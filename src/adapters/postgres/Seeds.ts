import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** Development data. Idempotent: running it again changes nothing. */
export const seedUsers = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const inserted = yield* sql<{ readonly email: string }>`
    INSERT INTO users (id, name, email)
    VALUES (1, 'Alice', 'alice@example.com'), (2, 'Bob', 'bob@example.com')
    ON CONFLICT DO NOTHING
    RETURNING email
  `
  // Explicit ids bypass the sequence: move it past them so the next insert does not collide.
  yield* sql`SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST((SELECT max(id) FROM users), 1))`
  yield* Effect.logInfo("Seed data applied").pipe(Effect.annotateLogs({ inserted: inserted.map((row) => row.email) }))
}).pipe(Effect.withSpan("Database.seed"))
