import { Duration, Effect, Option } from "effect"
import { DeadlineExceeded, type PermissionDenied, RateLimited, type Unauthenticated } from "../../domain/errors.js"
import { RequestDeadline } from "../../ports/RequestContext.js"
import { RequestMetrics } from "../../ports/RequestMetrics.js"
import { type AdmissionOptions, type AdmissionReport, makeAdmission } from "../grpc/Admission.js"
import { type AuthOptions, asCaller, makeAuthenticator } from "../grpc/Auth.js"

/** The policy the HTTP front doors (REST and @effect/rpc) apply to every call: the same settings as gRPC's. */
export interface EdgeOptions {
  /** REQUEST_TIMEOUT: the server's cap on a call. */
  readonly requestTimeout: Duration.Duration
  /** MAX_IN_FLIGHT, RATE_LIMIT_RPS, RATE_LIMIT_BURST. */
  readonly admission: AdmissionOptions
  /** JWT bearer authentication, or none. */
  readonly auth: Option.Option<AuthOptions>
  /** The scope writes require (AUTH_WRITE_SCOPE). */
  readonly writeScope: string
}

export interface EdgeCall {
  /** Who to rate-limit: the peer's address. */
  readonly caller: string
  /** The `authorization` header, if any. */
  readonly authorization: string | undefined
  /** Whether the call writes (and so needs the write scope). */
  readonly write: boolean
  /** Receives the verified token's subject (for the caller's own log line). */
  readonly onSubject?: (subject: string) => void
}

export type EdgeError = RateLimited | Unauthenticated | PermissionDenied | DeadlineExceeded

/**
 * Admission, authentication and the request timeout, in that order, around a call. One guard per front door
 * process-wide (its in-flight count is shared by REST and RPC; gRPC keeps its own, with the same limits).
 */
export const makeEdgeGuard = (options: EdgeOptions) => {
  const admission = makeAdmission(options.admission)
  const authenticate = Option.getOrUndefined(Option.map(options.auth, makeAuthenticator))
  const timeoutMs = Duration.toMillis(options.requestTimeout)
  // The limit is exported as admission_limit{door="http"}, registered with the metrics on the first call (the
  // guard is made before the metrics are at hand).
  let registered = false
  const register = Effect.map(Effect.serviceOption(RequestMetrics), (metrics) => {
    registered = true
    if (Option.isSome(metrics)) metrics.value.admissionLimit?.("http", admission.limit)
  })
  // The admission's summary (calls shed, limit changes): one line at most every 10 s instead of one per call.
  const reportLine = (report: AdmissionReport) => {
    const fields = { door: "http", shed: report.shed, limit: report.limit, previous_limit: report.previousLimit }
    return report.shed > 0
      ? Effect.annotateLogs(Effect.logWarning("calls shed: over the admission limit"), fields)
      : Effect.annotateLogs(Effect.logDebug("admission limit changed"), fields)
  }
  const guarded = <A, E, R>(call: EdgeCall, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | EdgeError, R> =>
    Effect.suspend((): Effect.Effect<A, E | EdgeError, R> => {
      const admitted = admission.enter(call.caller)
      if (!admitted.ok) {
        const refused = Effect.fail(new RateLimited({ reason: admitted.reason }))
        const report = admission.report()
        return report === undefined ? refused : Effect.zipRight(reportLine(report), refused)
      }
      const authenticated =
        authenticate === undefined
          ? effect
          : Effect.flatMap(authenticate(call.authorization, call.write ? options.writeScope : undefined), (principal) =>
              Effect.zipRight(
                Effect.sync(() => call.onSubject?.(principal.subject)),
                asCaller(principal, effect)
              )
            )
      return authenticated.pipe(
        Effect.timeoutFail({ duration: timeoutMs, onTimeout: () => new DeadlineExceeded({ timeoutMs }) }),
        Effect.locally(RequestDeadline, Option.some(Date.now() + timeoutMs)),
        Effect.ensuring(
          Effect.suspend(() => {
            admitted.leave()
            const report = admission.report()
            return report === undefined ? Effect.void : reportLine(report)
          })
        )
      )
    })
  return <A, E, R>(call: EdgeCall, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | EdgeError, R> =>
    registered ? guarded(call, effect) : Effect.zipRight(register, guarded(call, effect))
}
export type EdgeGuard = ReturnType<typeof makeEdgeGuard>
