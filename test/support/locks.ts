import { SqlClient } from "@effect/sql"
import { Deferred, Effect, Fiber } from "effect"

/**
 * Holds an exclusive lock on `users` from the test's own connection until `release` runs, so that the service's
 * calls wait in Postgres: really in flight. Needs a Postgres server (PGlite has one backend).
 */
export const holdUsersTable = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const release = yield* Deferred.make<void>()
  const locked = yield* Deferred.make<void>()
  const holder = yield* Effect.fork(
    sql.withTransaction(
      sql`LOCK TABLE users IN ACCESS EXCLUSIVE MODE`.pipe(
        Effect.zipRight(Deferred.succeed(locked, undefined)),
        Effect.zipRight(Deferred.await(release))
      )
    )
  )
  yield* Deferred.await(locked)
  return { release: Deferred.succeed(release, undefined).pipe(Effect.zipRight(Fiber.join(holder)), Effect.orDie) }
})

/** How many ListUsers queries wait behind that lock now. */
export const blockedQueries = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM users WHERE id > $1%'`.pipe(
    Effect.map((rows) => rows[0]?.n ?? 0)
  )
)
