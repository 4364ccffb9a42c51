import { SqlClient, type SqlError } from "@effect/sql"
import { Cause, Context, Data, Duration, Effect, Exit, Layer, Option, Schedule } from "effect"
import { DependencyUnavailable, FailedPrecondition, InvalidArgument, WriteOutcomeUnknown } from "../../domain/errors.js"
import { HealthChecks } from "../../ports/HealthChecks.js"
import type { WriteEnd } from "../../ports/UserRepository.js"
import { type BreakerOpen, makeCircuitBreaker } from "../resilience/CircuitBreaker.js"
import { type DatabaseSettings, config as databaseConfig } from "./DatabaseConfig.js"

/**
 * What a failed statement means, and so what the caller gets and whether the circuit breaker counts it:
 * - connection: the database cannot be reached (refused, reset, closed, connect or acquire timeout): UNAVAILABLE,
 *   counts, and an idempotent read may be retried;
 * - timeout: a statement timeout (server side 57014, or the client-side bound on a frozen server): UNAVAILABLE,
 *   counts, never retried (it would spend the budget twice);
 * - dependency: the server is failing (out of resources, crash, internal error): UNAVAILABLE, counts;
 * - schema: the database answers but its schema or grants do not match the code (migrations not applied):
 *   UNAVAILABLE with the reason in the log, never counted (opening the breaker would not help);
 * - contention: a serialization failure or deadlock: UNAVAILABLE (retry later), never counted;
 * - saturated: more statements waiting for a connection than DATABASE_POOL_MAX_WAITING: UNAVAILABLE at once,
 *   never counted (the database answers; this process asks too much of it);
 * - invalid / conflict / precondition: the caller's request was refused by the database (bad data, a unique or
 *   other constraint): INVALID_ARGUMENT / ALREADY_EXISTS / FAILED_PRECONDITION, never counted.
 */
export type PgFaultKind =
  | "connection"
  | "timeout"
  | "dependency"
  | "schema"
  | "contention"
  | "saturated"
  | "invalid"
  | "conflict"
  | "precondition"

/**
 * The one table: SQLSTATE (an exact code, else its two-character class) → kind. Codes not listed fall back to
 * their class, and classes not listed to "dependency" (an unknown failure counts, so an outage of a new kind still
 * opens the breaker). Errors without a SQLSTATE come from the driver or the socket: "connection".
 */
export const SQLSTATE_KINDS: ReadonlyArray<readonly [code: string, kind: PgFaultKind, meaning: string]> = [
  ["23505", "conflict", "unique_violation"],
  ["57014", "timeout", "query_canceled (statement_timeout)"],
  ["57P01", "connection", "admin_shutdown"],
  ["57P02", "connection", "crash_shutdown"],
  ["57P03", "connection", "cannot_connect_now"],
  ["42P01", "schema", "undefined_table"],
  ["42703", "schema", "undefined_column"],
  ["42883", "schema", "undefined_function"],
  ["42501", "schema", "insufficient_privilege"],
  ["3F000", "schema", "invalid_schema_name"],
  ["3D000", "connection", "invalid_catalog_name (no such database)"],
  ["28", "connection", "invalid authorization (wrong user or password)"],
  ["08", "connection", "connection exception"],
  ["53", "dependency", "insufficient resources"],
  ["57", "dependency", "operator intervention"],
  ["58", "dependency", "system error"],
  ["XX", "dependency", "internal error"],
  ["40", "contention", "transaction rollback (serialization failure, deadlock)"],
  ["22", "invalid", "data exception"],
  ["54", "invalid", "program limit exceeded (a value too large)"],
  ["23", "precondition", "integrity constraint violation"],
  ["42", "precondition", "syntax error or access rule violation"]
]
const BY_CODE = new Map(SQLSTATE_KINDS.map(([code, kind]) => [code, kind]))

/** Kinds the circuit breaker counts: the dependency's faults, never the caller's. */
export const COUNTED: ReadonlySet<PgFaultKind> = new Set(["connection", "timeout", "dependency"])

const SQLSTATE = /^[0-9A-Z]{5}$/

/** The SQLSTATE of a driver error, or "" when it has none (a socket error, a pool timeout). */
export const sqlStateOf = (cause: unknown): string => {
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
  return SQLSTATE.test(code) ? code : ""
}

export const classifySqlState = (code: string): PgFaultKind =>
  code === "" ? "connection" : (BY_CODE.get(code) ?? BY_CODE.get(code.slice(0, 2)) ?? "dependency")

/** A statement that failed, classified. */
export class PgFailure extends Data.TaggedError("PgFailure")<{
  readonly kind: PgFaultKind
  readonly operation: string
  /** SQLSTATE, or "" when the driver or the socket failed. */
  readonly sqlState: string
  /** The column the database named, if any (for INVALID_ARGUMENT). */
  readonly column: string | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    return `${this.operation}: ${this.kind}${this.sqlState === "" ? "" : ` (SQLSTATE ${this.sqlState})`}`
  }
}

const failureOf = (operation: string, error: SqlError.SqlError | StatementTimeout): PgFailure => {
  if (error._tag === "StatementTimeout")
    return new PgFailure({ kind: "timeout", operation, sqlState: "", column: undefined, cause: error })
  const cause: unknown = error.cause
  const sqlState = sqlStateOf(cause)
  const column =
    typeof cause === "object" && cause !== null && "column" in cause && typeof cause.column === "string"
      ? cause.column
      : undefined
  return new PgFailure({ kind: classifySqlState(sqlState), operation, sqlState, column, cause: error })
}

/** The client-side bound on a statement ran out: the server did not answer (frozen, or the network lost). */
export class StatementTimeout extends Data.TaggedError("StatementTimeout")<{ readonly timeoutMs: number }> {
  override get message(): string {
    return `no answer from the database within ${this.timeoutMs} ms`
  }
}

/** sql-pg's message when no connection could be had: the statement was never sent. */
const NOT_SENT = "Failed to acquire connection"

/**
 * Whether a failed write may have been applied: it was sent and no answer came (the connection was lost, or the
 * client-side bound passed while the statement goes on). A SQLSTATE is the server's answer (the transaction
 * rolled back); a failure to get a connection, the breaker and the full queue never sent it.
 */
export const outcomeUnknown = (failure: PgFailure | BreakerOpen): boolean => {
  if (failure._tag === "BreakerOpen" || failure.sqlState !== "") return false
  if (failure.cause instanceof StatementTimeout) return true
  const cause = failure.cause
  return (
    failure.kind === "connection" &&
    !(typeof cause === "object" && cause !== null && "message" in cause && cause.message === NOT_SENT)
  )
}

/** Every DependencyUnavailable for the database is made here: the cause stays for the log. */
const unavailable = (operation: string, cause: unknown) =>
  new DependencyUnavailable({ dependency: "database", operation, cause })

/** A failed write as the domain's error: WriteOutcomeUnknown when it may have been applied (see outcomeUnknown). */
export const toWriteError = (
  failure: PgFailure | BreakerOpen
): DependencyUnavailable | InvalidArgument | FailedPrecondition | WriteOutcomeUnknown =>
  failure._tag === "PgFailure" && outcomeUnknown(failure)
    ? new WriteOutcomeUnknown({ operation: failure.operation, cause: failure })
    : toDomainError(failure)

/**
 * A classified failure as the domain's error. `conflict` is the caller's to name (EmailTaken for the email
 * constraint); the reasons never quote the database's message, which may echo the caller's value.
 */
export const toDomainError = (
  failure: PgFailure | BreakerOpen
): DependencyUnavailable | InvalidArgument | FailedPrecondition => {
  if (failure._tag === "BreakerOpen") return unavailable("circuit breaker", failure.message)
  switch (failure.kind) {
    case "invalid":
      return new InvalidArgument({
        field: failure.column ?? "request",
        reason: `was refused by the database (SQLSTATE ${failure.sqlState})`
      })
    case "conflict":
    case "precondition":
      return new FailedPrecondition({ reason: `the database refused the change (SQLSTATE ${failure.sqlState})` })
    default:
      return unavailable(failure.operation, failure)
  }
}

export interface PgGuardOptions {
  /** Consecutive counted failures that open the breaker (the database is then not tried: UNAVAILABLE at once). */
  readonly breakerThreshold: number
  readonly breakerResetAfter: Duration.Duration
  /** Extra attempts of an idempotent read after a connection failure; writes are never retried. */
  readonly readRetries: number
  /** The client-side bound on one statement, waiting for a connection included. */
  readonly statementTimeout: Duration.Duration
  /** Statements in progress beyond which new ones fail at once (the pool's size plus its wait queue). */
  readonly maxPending: number
}

/**
 * Every statement of the service's Postgres adapters goes through here: bounded in time (so a frozen server is a
 * counted timeout, not a hang), refused at once when too many wait for a connection, through one circuit breaker
 * that counts only the database's faults (the table above), and reads retried on connection failures.
 */
export class PgGuard extends Context.Tag("effect-microservice/PgGuard")<
  PgGuard,
  {
    /**
     * One statement (or one transaction). `read` marks it idempotent: retried on connection failures, within the
     * caller's budget, and cancelled when the caller leaves. Anything else is a write: once sent it runs to its real
     * end even when the caller leaves or the bound answers first (so it is never cancelled half-way and its end is
     * known), and `settled` is told how it ended, then.
     */
    readonly run: <A>(
      operation: string,
      statement: Effect.Effect<A, SqlError.SqlError>,
      options?: { readonly read?: boolean; readonly settled?: ((end: WriteEnd<A>) => Effect.Effect<void>) | undefined }
    ) => Effect.Effect<A, PgFailure | BreakerOpen>
  }
>() {}

export const PgGuardLive = (options: PgGuardOptions) =>
  Layer.scoped(
    PgGuard,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const timeoutMs = Duration.toMillis(options.statementTimeout)
      // The probe is a statement like any other, bounded the same way; the guard's own counters leave it alone.
      const breaker = yield* makeCircuitBreaker({
        name: "Postgres",
        failureThreshold: options.breakerThreshold,
        resetAfter: options.breakerResetAfter,
        probe: sql`SELECT 1`,
        probeTimeout: Number.isFinite(timeoutMs) ? options.statementTimeout : options.breakerResetAfter
      })
      yield* (yield* HealthChecks).register({
        name: "database_breaker",
        critical: false,
        check: Effect.flatMap(breaker.state, (state) =>
          state === "closed"
            ? Effect.void
            : Effect.fail(new Error(`circuit breaker ${state}: the database is not tried`))
        )
      })
      const retryReads = Schedule.exponential(Duration.millis(20)).pipe(
        Schedule.jittered,
        Schedule.intersect(Schedule.recurs(options.readRetries))
      )

      let pending = 0
      const counts = (failure: PgFailure) => COUNTED.has(failure.kind)

      // A write whose connection was lost after it was sent may still be applied until the server's statement
      // timeout has run out; the client-side bound covers it.
      const unknownWithin = Number.isFinite(timeoutMs) ? options.statementTimeout : Duration.minutes(1)
      const endOf = <A>(operation: string, exit: Exit.Exit<A, SqlError.SqlError>): WriteEnd<A> => {
        if (Exit.isSuccess(exit)) return { _tag: "Applied", value: exit.value }
        const failure = Cause.failureOption(exit.cause)
        return Option.isSome(failure) && outcomeUnknown(failureOf(operation, failure.value))
          ? { _tag: "Unknown", within: unknownWithin }
          : { _tag: "NotApplied" }
      }
      const toEnd = <A>(
        operation: string,
        statement: Effect.Effect<A, SqlError.SqlError>,
        settled: ((end: WriteEnd<A>) => Effect.Effect<void>) | undefined
      ): Effect.Effect<A, SqlError.SqlError> =>
        Effect.uninterruptible(
          settled === undefined ? statement : Effect.onExit(statement, (exit) => settled(endOf(operation, exit)))
        )

      const attempt = <A>(
        operation: string,
        statement: Effect.Effect<A, SqlError.SqlError>,
        write: { readonly settled?: ((end: WriteEnd<A>) => Effect.Effect<void>) | undefined } | undefined
      ) =>
        Effect.suspend((): Effect.Effect<A, PgFailure | BreakerOpen> => {
          if (pending >= options.maxPending) {
            const cause = new Error(`${pending} statements already waiting or running`)
            return Effect.fail(new PgFailure({ kind: "saturated", operation, sqlState: "", column: undefined, cause }))
          }
          // Counted from here (synchronously, so a burst sees its own size) until the statement really ends,
          // which for a caller that left is when its query cancel is done, in the background.
          let counted = false
          let started = false
          const release = () => {
            if (counted) pending -= 1
            counted = false
          }
          const bounded = Effect.suspend(() => {
            pending += 1
            counted = true
            return Effect.suspend(() => {
              started = true
              return write === undefined ? statement : toEnd(operation, statement, write.settled)
            }).pipe(
              Effect.ensuring(Effect.sync(release)),
              // A caller that leaves (or the bound below) does not wait for the query cancel, which needs a
              // connection of its own and can take the connect timeout on a frozen server.
              Effect.disconnect,
              // The statement's fiber may be interrupted before it ever ran (then its own release never runs).
              Effect.onExit(() => Effect.sync(() => started || release())),
              (effect) =>
                Number.isFinite(timeoutMs)
                  ? Effect.timeoutFail(effect, {
                      duration: timeoutMs,
                      onTimeout: () => new StatementTimeout({ timeoutMs })
                    })
                  : effect,
              Effect.mapError((error) => failureOf(operation, error))
            )
          })
          return breaker.protect(bounded, counts)
        })

      return PgGuard.of({
        run: (operation, statement, runOptions) =>
          runOptions?.read === true
            ? attempt(operation, statement, undefined).pipe(
                Effect.retry({
                  schedule: retryReads,
                  while: (error) => error._tag === "PgFailure" && error.kind === "connection"
                })
              )
            : attempt(operation, statement, { settled: runOptions?.settled })
      })
    })
  )

/**
 * A statement's client-side bound covers waiting for a connection (at most the connect timeout) and the server's
 * statement_timeout, plus a margin so the server's own timeout answers first.
 */
export const optionsOf = (database: DatabaseSettings): PgGuardOptions => ({
  breakerThreshold: database.breakerThreshold,
  breakerResetAfter: database.breakerReset,
  readRetries: database.readRetries,
  // DATABASE_STATEMENT_TIMEOUT=0 turns the server's limit off: then the caller's budget is the only bound.
  statementTimeout: Duration.isZero(database.statementTimeout)
    ? Duration.infinity
    : Duration.sum(Duration.sum(database.connectTimeout, database.statementTimeout), Duration.millis(250)),
  maxPending: database.poolMaxOpen + database.poolMaxWaiting
})

export const layerConfig = Layer.unwrapEffect(
  Effect.map(databaseConfig, (database) => PgGuardLive(optionsOf(database)))
)
