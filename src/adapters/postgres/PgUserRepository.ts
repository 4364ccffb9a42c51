import { SqlClient, type SqlError } from "@effect/sql"
import { Duration, Effect, Either, Layer, Option, Schedule, Schema } from "effect"
import { DependencyUnavailable, EmailTaken } from "../../domain/errors.js"
import { User, type UserId } from "../../domain/User.js"
import { HealthChecks } from "../../ports/HealthChecks.js"
import { UserRepository } from "../../ports/UserRepository.js"
import { makeCircuitBreaker } from "../resilience/CircuitBreaker.js"
import { timedQuery } from "./PgMetrics.js"

// node-postgres returns BIGINT as a string: decode it into an exact bigint, never a lossy number.
const UserRow = Schema.compose(Schema.Struct({ id: Schema.BigInt, name: Schema.String, email: Schema.String }), User)
const decodeRows = Schema.decodeUnknown(Schema.Array(UserRow))

const UNIQUE_VIOLATION = "23505"

const sqlState = (error: SqlError.SqlError): string => {
  const cause: unknown = error.cause
  return typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
}
const isUniqueViolation = (error: SqlError.SqlError): boolean => sqlState(error) === UNIQUE_VIOLATION

// Connection-level failures worth another try: socket errors (no SQLSTATE, or E* codes), class 08 (connection
// exception), 57P01-57P03 (server shutting down or starting). Not 57014 (statement timeout): a retry would spend
// the budget twice on the same slow query.
const isTransient = (error: SqlError.SqlError): boolean => {
  const code = sqlState(error)
  return code === "" || code.startsWith("08") || /^57P0[1-3]$/.test(code) || /^E[A-Z]+$/.test(code)
}

const unavailable = (operation: string) => (cause: unknown) =>
  new DependencyUnavailable({ dependency: "database", operation, cause })

export interface PgUserRepositoryOptions {
  /** Consecutive failed statements that open the breaker (the database is then not tried: UNAVAILABLE at once). */
  readonly breakerThreshold: number
  readonly breakerResetAfter: Duration.Duration
  /** Extra attempts of an idempotent read after a transient (connection) failure; writes are never retried. */
  readonly readRetries: number
}

/**
 * UserRepository on Postgres. Every statement goes through a circuit breaker (its state is the
 * circuit_breaker_state metric and the "database_breaker" readiness detail); reads are retried on transient
 * failures with jittered exponential backoff, inside the request's budget; writes never are.
 */
export const PgUserRepositoryLive = (options: PgUserRepositoryOptions) =>
  Layer.scoped(
    UserRepository,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const breaker = yield* makeCircuitBreaker({
        name: "Postgres",
        failureThreshold: options.breakerThreshold,
        resetAfter: options.breakerResetAfter
      })
      yield* (yield* HealthChecks).register({
        name: "database_breaker",
        critical: false,
        check: Effect.flatMap(breaker.state, (state) =>
          state === "open" ? Effect.fail(new Error("circuit breaker open: the database is not tried")) : Effect.void
        )
      })
      const retryReads = Schedule.exponential(Duration.millis(20)).pipe(
        Schedule.jittered,
        Schedule.intersect(Schedule.recurs(options.readRetries))
      )

      // Rows that do not decode mean the schema and the code disagree: a defect, not a client error.
      const users = (rows: ReadonlyArray<unknown>) => decodeRows(rows).pipe(Effect.orDie)

      /** One statement through the breaker. A unique violation is an answer, not a failure: the breaker ignores it. */
      const attempt = <A>(operation: string, statement: Effect.Effect<A, SqlError.SqlError>) =>
        breaker.protect(
          statement.pipe(
            timedQuery(operation),
            Effect.map((rows) => Either.right(rows)),
            Effect.catchIf(isUniqueViolation, (error) => Effect.succeed(Either.left(error)))
          )
        )

      /** An idempotent read: retried on transient failures, within the request's budget. */
      const read = <A>(operation: string, statement: Effect.Effect<A, SqlError.SqlError>) =>
        attempt(operation, statement).pipe(
          Effect.retry({ schedule: retryReads, while: (e) => e._tag === "SqlError" && isTransient(e) }),
          Effect.mapError(unavailable(operation)),
          Effect.flatMap((result) =>
            Either.isRight(result) ? Effect.succeed(result.right) : Effect.fail(unavailable(operation)(result.left))
          )
        )

      /** A write: never retried (it may have committed before the connection broke). */
      const write = <A>(operation: string, statement: Effect.Effect<A, SqlError.SqlError>) =>
        attempt(operation, statement).pipe(Effect.mapError(unavailable(operation)))

      /** A write that may hit the unique email: EmailTaken. */
      const writeEmail = <A>(
        operation: string,
        statement: Effect.Effect<A, SqlError.SqlError>,
        email: string | undefined
      ) =>
        Effect.flatMap(write(operation, statement), (result) =>
          Either.isRight(result)
            ? Effect.succeed(result.right)
            : Effect.fail(email === undefined ? unavailable(operation)(result.left) : new EmailTaken({ email }))
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
          if (Either.isLeft(result)) return yield* unavailable("delete")(result.left)
          return result.right.length > 0
        })
      })
    })
  )
