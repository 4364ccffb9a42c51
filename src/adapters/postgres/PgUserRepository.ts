import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Layer, Option, Schema } from "effect"
import { EmailTaken } from "../../domain/errors.js"
import { User, type UserId } from "../../domain/User.js"
import { UserRepository } from "../../ports/UserRepository.js"
import { PgGuard, toDomainError } from "./PgGuard.js"
import { timedQuery } from "./PgMetrics.js"

// node-postgres returns BIGINT as a string: decode it into an exact bigint, never a lossy number.
const UserRow = Schema.compose(Schema.Struct({ id: Schema.BigInt, name: Schema.String, email: Schema.String }), User)
const decodeRows = Schema.decodeUnknown(Schema.Array(UserRow))

/**
 * UserRepository on Postgres. Every statement goes through the PgGuard (a time bound, the circuit breaker that
 * counts only the database's faults, read retries); a unique violation on the email is EmailTaken, and every other
 * failure is the guard's classification (PgGuard.ts) as a domain error.
 */
export const PgUserRepositoryLive = Layer.effect(
  UserRepository,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const guard = yield* PgGuard

    // Rows that do not decode mean the schema and the code disagree: a defect, not a client error.
    const users = (rows: ReadonlyArray<unknown>) => decodeRows(rows).pipe(Effect.orDie)

    const read = <A>(operation: string, statement: Effect.Effect<A, SqlError.SqlError>) =>
      guard.run(operation, timedQuery(operation)(statement), { read: true }).pipe(Effect.mapError(toDomainError))

    /** A write: never retried (it may have committed before the connection broke). */
    const write = <A>(operation: string, statement: Effect.Effect<A, SqlError.SqlError>) =>
      guard.run(operation, timedQuery(operation)(statement)).pipe(Effect.mapError(toDomainError))

    /** A write that may hit the unique email: EmailTaken. */
    const writeEmail = <A>(
      operation: string,
      statement: Effect.Effect<A, SqlError.SqlError>,
      email: string | undefined
    ) =>
      guard
        .run(operation, timedQuery(operation)(statement))
        .pipe(
          Effect.mapError((failure) =>
            failure._tag === "PgFailure" && failure.kind === "conflict" && email !== undefined
              ? new EmailTaken({ email })
              : toDomainError(failure)
          )
        )

    return UserRepository.of({
      findById: Effect.fn("UserRepository.findById")(function* (id: UserId) {
        const rows = yield* read("findById", sql`SELECT id, name, email FROM users WHERE id = ${id}`)
        return Option.fromNullable((yield* users(rows))[0])
      }),
      findByIds: Effect.fn("UserRepository.findByIds")(function* (ids: ReadonlyArray<UserId>) {
        yield* Effect.annotateCurrentSpan("user.ids", ids.length)
        return yield* users(yield* read("findByIds", sql`SELECT id, name, email FROM users WHERE id = ANY(${ids})`))
      }),
      list: Effect.fn("UserRepository.list")(function* ({ afterId, limit }) {
        const rows = yield* read(
          "list",
          sql`SELECT id, name, email FROM users WHERE id > ${afterId ?? 0n} ORDER BY id LIMIT ${limit}`
        )
        return yield* users(rows)
      }),
      insert: Effect.fn("UserRepository.insert")(function* (input) {
        const rows = yield* writeEmail(
          "insert",
          sql`INSERT INTO users (name, email) VALUES (${input.name}, ${input.email}) RETURNING id, name, email`,
          input.email
        )
        const [user] = yield* users(rows)
        return user ?? (yield* Effect.dieMessage("INSERT ... RETURNING returned no row"))
      }),
      update: Effect.fn("UserRepository.update")(function* (id, patch) {
        const rows = yield* writeEmail(
          "update",
          sql`
              UPDATE users
              SET name = COALESCE(${patch.name ?? null}, name),
                  email = COALESCE(${patch.email ?? null}, email),
                  updated_at = now()
              WHERE id = ${id}
              RETURNING id, name, email`,
          patch.email
        )
        return Option.fromNullable((yield* users(rows))[0])
      }),
      delete: Effect.fn("UserRepository.delete")(function* (id) {
        const result = yield* write("delete", sql`DELETE FROM users WHERE id = ${id} RETURNING id`)
        return result.length > 0
      })
    })
  })
)
