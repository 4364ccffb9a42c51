import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Layer, Option, Schema } from "effect"
import { DependencyUnavailable, EmailTaken } from "../../domain/errors.js"
import { User, type UserId } from "../../domain/User.js"
import { UserRepository } from "../../ports/UserRepository.js"
import { timedQuery } from "./PgMetrics.js"

// node-postgres returns BIGINT as a string: decode it into an exact bigint, never a lossy number.
const UserRow = Schema.compose(Schema.Struct({ id: Schema.BigInt, name: Schema.String, email: Schema.String }), User)
const decodeRows = Schema.decodeUnknown(Schema.Array(UserRow))

const UNIQUE_VIOLATION = "23505"

const isUniqueViolation = (error: SqlError.SqlError): boolean => {
  const cause: unknown = error.cause
  return typeof cause === "object" && cause !== null && "code" in cause && cause.code === UNIQUE_VIOLATION
}

const unavailable = (operation: string) => (cause: unknown) =>
  new DependencyUnavailable({ dependency: "database", operation, cause })

export const PgUserRepositoryLive = Layer.effect(
  UserRepository,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    // Rows that do not decode mean the schema and the code disagree: a defect, not a client error.
    const users = (rows: ReadonlyArray<unknown>) => decodeRows(rows).pipe(Effect.orDie)

    const writeErrors = (operation: string, email: string | undefined) => (error: SqlError.SqlError) =>
      isUniqueViolation(error) && email !== undefined ? new EmailTaken({ email }) : unavailable(operation)(error)

    return UserRepository.of({
      findById: Effect.fn("UserRepository.findById")(function* (id: UserId) {
        const rows = yield* sql`SELECT id, name, email FROM users WHERE id = ${id}`.pipe(
          timedQuery("findById"),
          Effect.mapError(unavailable("findById"))
        )
        return Option.fromNullable((yield* users(rows))[0])
      }),
      findByIds: Effect.fn("UserRepository.findByIds")(function* (ids: ReadonlyArray<UserId>) {
        yield* Effect.annotateCurrentSpan("user.ids", ids.length)
        const rows = yield* sql`SELECT id, name, email FROM users WHERE id = ANY(${ids})`.pipe(
          timedQuery("findByIds"),
          Effect.mapError(unavailable("findByIds"))
        )
        return yield* users(rows)
      }),
      list: Effect.fn("UserRepository.list")(function* ({ afterId, limit }) {
        const rows = yield* sql`
          SELECT id, name, email FROM users WHERE id > ${afterId ?? 0n} ORDER BY id LIMIT ${limit}
        `.pipe(timedQuery("list"), Effect.mapError(unavailable("list")))
        return yield* users(rows)
      }),
      insert: Effect.fn("UserRepository.insert")(function* (input) {
        const rows = yield* sql`
          INSERT INTO users (name, email) VALUES (${input.name}, ${input.email}) RETURNING id, name, email
        `.pipe(timedQuery("insert"), Effect.mapError(writeErrors("insert", input.email)))
        const [user] = yield* users(rows)
        return user ?? (yield* Effect.dieMessage("INSERT ... RETURNING returned no row"))
      }),
      update: Effect.fn("UserRepository.update")(function* (id, patch) {
        const rows = yield* sql`
          UPDATE users
          SET name = COALESCE(${patch.name ?? null}, name),
              email = COALESCE(${patch.email ?? null}, email),
              updated_at = now()
          WHERE id = ${id}
          RETURNING id, name, email
        `.pipe(timedQuery("update"), Effect.mapError(writeErrors("update", patch.email)))
        return Option.fromNullable((yield* users(rows))[0])
      }),
      delete: Effect.fn("UserRepository.delete")(function* (id) {
        const rows = yield* sql`DELETE FROM users WHERE id = ${id} RETURNING id`.pipe(
          timedQuery("delete"),
          Effect.mapError(unavailable("delete"))
        )
        return rows.length > 0
      })
    })
  })
)
