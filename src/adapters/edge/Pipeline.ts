import { Context, Duration, Effect, Exit, FiberRef, LogLevel, Option, Runtime } from "effect"
import { describeError } from "../../domain/describeError.js"
import {
  type AppError,
  DeadlineExceeded,
  type PermissionDenied,
  RateLimited,
  type Unauthenticated
} from "../../domain/errors.js"
import { RequestDeadline } from "../../ports/RequestContext.js"
import { RequestMetrics } from "../../ports/RequestMetrics.js"
import { type AdmissionOptions, type AdmissionReport, makeAdmission } from "../grpc/Admission.js"
import { type AuthOptions, asCaller, makeAuthenticator } from "../grpc/Auth.js"
import { grpcCodeName, type Outcome, outcomeOfCause } from "./ErrorStatus.js"
import { OPERATIONS, type Operation } from "./Operations.js"

/** The edge policy's settings, the same for every door. */
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

export type EdgeError = RateLimited | Unauthenticated | PermissionDenied | DeadlineExceeded

/** A call as a door sees it, for the Effect-shaped doors (REST and /rpc). */
export interface EdgeCall {
  /** The operation's row in the policy table; undefined for a REST path that names none (it answers 404 or 405). */
  readonly operation: Operation | undefined
  /** Who to rate-limit: the peer's address. */
  readonly caller: string
  /** The `authorization` header, if any. */
  readonly authorization: string | undefined
  /** Receives the verified token's subject (for the caller's own log line). */
  readonly onSubject?: (subject: string) => void
  /** Counted in the request metrics and logged one line per call under this method name (the /rpc calls). */
  readonly recorded?: { readonly method: string; readonly requestId: string | undefined }
}

/**
 * The one edge pipeline: admission, authentication with the scope the operation's row asks for, the deadline, the
 * request metrics and the per-call log line, for every door. Each door has its own pipeline
 * (its own in-flight count and admission_limit{door}) with the same settings. gRPC drives it from grpc-js
 * callbacks without an extra fiber per call (grpc/Unary.ts); REST and /rpc, which run inside Effect's HTTP
 * server, use `guard`.
 */
export const makeEdgePipeline = (door: "grpc" | "http", options: EdgeOptions, runtime: Runtime.Runtime<never>) => {
  const admission = makeAdmission(options.admission)
  const authenticate = Option.getOrUndefined(Option.map(options.auth, makeAuthenticator))
  const requestTimeoutMs = Duration.toMillis(options.requestTimeout)
  const metrics = Context.getOrElse(runtime.context, RequestMetrics, () =>
    Context.get(RequestMetrics.noop, RequestMetrics)
  )
  // What the runtime was built with, read once.
  const { annotations, clock, minimumLevel, tracer } = Runtime.runSync(
    runtime,
    Effect.all({
      annotations: FiberRef.get(FiberRef.currentLogAnnotations),
      clock: Effect.clock,
      minimumLevel: FiberRef.get(FiberRef.currentMinimumLogLevel),
      tracer: Effect.tracer
    })
  )
  const enabled = {
    debug: LogLevel.greaterThanEqual(LogLevel.Debug, minimumLevel),
    info: LogLevel.greaterThanEqual(LogLevel.Info, minimumLevel),
    warning: LogLevel.greaterThanEqual(LogLevel.Warning, minimumLevel),
    error: LogLevel.greaterThanEqual(LogLevel.Error, minimumLevel)
  }
  // Read at each scrape.
  metrics.admissionLimit?.(door, admission.limit)

  /** The admission's summary (calls shed, limit changes): one line at most every 10 s instead of one per call. */
  const reportAdmission = () => {
    const report: AdmissionReport | undefined = admission.report()
    if (report === undefined) return
    const fields = { door, shed: report.shed, limit: report.limit, previous_limit: report.previousLimit }
    if (report.shed > 0 && enabled.warning)
      Runtime.runFork(runtime, Effect.annotateLogs(Effect.logWarning("calls shed: over the admission limit"), fields))
    else if (report.limit !== report.previousLimit && enabled.debug)
      Runtime.runFork(runtime, Effect.annotateLogs(Effect.logDebug("admission limit changed"), fields))
  }

  /** The use case behind the bearer token's check, with the scope the operation's row asks for. */
  const authorize = <A, E, R>(
    operation: Operation | undefined,
    authorization: string | undefined,
    effect: Effect.Effect<A, E, R>,
    onSubject: (subject: string) => void
  ): Effect.Effect<A, E | Unauthenticated | PermissionDenied, R> =>
    authenticate === undefined
      ? effect
      : Effect.flatMap(
          authenticate(
            authorization,
            operation !== undefined && OPERATIONS[operation].writes ? options.writeScope : undefined
          ),
          (principal) => {
            onSubject(principal.subject)
            return asCaller(principal, effect)
          }
        )

  /** A call's time: the server's cap, or less when the client's own deadline (less a margin) comes first. */
  const budgetMs = (clientRemainingMs: number | undefined) =>
    clientRemainingMs === undefined ? requestTimeoutMs : Math.min(requestTimeoutMs, clientRemainingMs)

  /**
   * The line of a call that did not succeed, or undefined when its level is off. A dependency's failure names its
   * cause (credentials stripped) at warning; a caller's mistake is info; a defect is an error with its cause.
   * Never a stack trace per failure: an outage fails many calls.
   */
  const failureLine = (
    label: string,
    exit: Exit.Failure<unknown, AppError>,
    outcome: Outcome,
    fields: Record<string, unknown>
  ): Effect.Effect<void> | undefined => {
    const code = grpcCodeName(outcome.status.grpc)
    const message = `${label} request failed`
    switch (outcome._tag) {
      case "Defect":
        return enabled.error
          ? Effect.logError(message, exit.cause).pipe(Effect.annotateLogs({ code, ...fields }))
          : undefined
      case "Interrupted":
        return enabled.info ? Effect.logInfo(message).pipe(Effect.annotateLogs({ code, ...fields })) : undefined
      case "Failure": {
        // UNAVAILABLE and DEADLINE_EXCEEDED: the service's or a dependency's side, not the caller's.
        const serverSide = outcome.status.http === 503 || outcome.status.http === 504
        if (!(serverSide ? enabled.warning : enabled.info)) return undefined
        return (serverSide ? Effect.logWarning : Effect.logInfo)(message).pipe(
          Effect.annotateLogs({
            code,
            ...fields,
            error: serverSide ? describeError(outcome.error) : outcome.status.message
          })
        )
      }
    }
  }

  /** REST and /rpc: the pipeline around an effect that runs in the HTTP server's fiber. */
  const guard = <A, E extends AppError, R>(
    call: EdgeCall,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | EdgeError, R> =>
    Effect.suspend(() => {
      const started = performance.now()
      let subject: string | undefined
      const { recorded } = call
      const done = recorded === undefined ? undefined : metrics.rpcStarted(recorded.method)
      const admitted = admission.enter(call.caller)
      const guarded: Effect.Effect<A, E | EdgeError, R> = admitted.ok
        ? authorize(call.operation, call.authorization, effect, (verified) => {
            subject = verified
            call.onSubject?.(verified)
          }).pipe(
            Effect.timeoutFail({
              duration: requestTimeoutMs,
              onTimeout: () => new DeadlineExceeded({ timeoutMs: requestTimeoutMs })
            }),
            Effect.locally(RequestDeadline, Option.some(Date.now() + requestTimeoutMs)),
            Effect.ensuring(
              Effect.sync(() => {
                admitted.leave()
                reportAdmission()
              })
            )
          )
        : Effect.zipRight(Effect.sync(reportAdmission), Effect.fail(new RateLimited({ reason: admitted.reason })))
      const logged =
        recorded === undefined || done === undefined
          ? guarded
          : Effect.onExit(guarded, (exit) => {
              const fields = {
                method: recorded.method,
                duration_ms: Math.round((performance.now() - started) * 100) / 100,
                ...(recorded.requestId === undefined ? {} : { request_id: recorded.requestId }),
                caller: call.caller,
                ...(subject === undefined ? {} : { subject })
              }
              if (Exit.isSuccess(exit)) {
                done("OK")
                return enabled.info
                  ? Effect.logInfo("RPC request completed").pipe(Effect.annotateLogs({ code: "OK", ...fields }))
                  : Effect.void
              }
              const outcome = outcomeOfCause(exit.cause)
              done(grpcCodeName(outcome.status.grpc))
              return failureLine("RPC", exit, outcome, fields) ?? Effect.void
            })
      return logged
    })

  return {
    runtime,
    admission,
    metrics,
    annotations,
    clock,
    tracer,
    enabled,
    reportAdmission,
    authorize,
    budgetMs,
    failureLine,
    guard
  }
}
export type EdgePipeline = ReturnType<typeof makeEdgePipeline>
