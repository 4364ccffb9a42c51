import { randomUUID } from "node:crypto"
import { Headers, HttpTraceContext } from "@effect/platform"
import { status as GrpcCode, type handleUnaryCall, Metadata } from "@grpc/grpc-js"
import { Cause, Context, Effect, Exit, Option, Runtime, type Tracer } from "effect"
import { type AppError, DeadlineExceeded, InvalidArgument, RateLimited } from "../../domain/errors.js"
import { RequestDeadline } from "../../ports/RequestContext.js"
import { RequestMetrics } from "../../ports/RequestMetrics.js"
import { goCodeName, grpcCodeName, outcomeOfCause } from "../edge/ErrorStatus.js"
import type { Admission } from "./Admission.js"
import type { Authenticator } from "./Auth.js"
import { MalformedRequest } from "./Tolerant.js"

const REQUEST_ID = /^[\w.:-]{1,128}$/

/** The caller's `x-request-id` when it is a sane token, else a new one. */
const requestIdOf = (metadata: Metadata): string => {
  const [value] = metadata.get("x-request-id")
  return typeof value === "string" && REQUEST_ID.test(value) ? value : randomUUID()
}

/** The caller's span, from `traceparent` (and `tracestate`) metadata, if it sent one. */
const traceParentOf = (metadata: Metadata): Tracer.ExternalSpan | undefined => {
  const [traceparent] = metadata.get("traceparent")
  if (typeof traceparent !== "string") return undefined
  const [tracestate] = metadata.get("tracestate")
  const headers = Headers.fromInput(typeof tracestate === "string" ? { traceparent, tracestate } : { traceparent })
  return Option.getOrUndefined(HttpTraceContext.fromHeaders(headers))
}

/** The use case, after the bearer token (when auth is on) is verified; `onSubject` receives the token's subject. */
const authenticated = <A>(
  policy: UnaryPolicy,
  metadata: Metadata,
  effect: Effect.Effect<A, AppError>,
  onSubject: (subject: string) => void
) => {
  if (policy.auth === undefined) return effect
  const [authorization] = metadata.get("authorization")
  return Effect.flatMap(
    policy.auth(typeof authorization === "string" ? authorization : undefined, policy.requiredScope),
    (principal) => {
      onSubject(principal.subject)
      return Effect.annotateLogs(effect, { subject: principal.subject })
    }
  )
}

/** Milliseconds left until the call's deadline, or undefined when the client set none. */
const remainingMs = (deadline: Date | number): number | undefined => {
  const at = deadline instanceof Date ? deadline.getTime() : deadline
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined
}

/**
 * Turns a use case into a grpc-js unary handler. The call runs on the service's runtime inside a server span;
 * the client's deadline becomes an Effect timeout; a cancelled call (client gone, or deadline passed) interrupts
 * the fiber, which cancels whatever it awaits, SQL queries included. One log line per call.
 */
export interface UnaryPolicy {
  /** The server's own cap on a call (REQUEST_TIMEOUT); the budget is the smaller of it and the client's deadline. */
  readonly requestTimeoutMs: number
  readonly admission: Admission
  /** When set, every call needs a valid bearer token; `requiredScope`, when set, must be among its scopes. */
  readonly auth?: Authenticator | undefined
  readonly requiredScope?: string | undefined
  /** The scope writes require (set on the write handlers' policy as `requiredScope`). */
  readonly writeScope?: string | undefined
}

/** The caller, for rate limits and logs: the client certificate's subject CN with mTLS, else the peer's address. */
const callerOf = (call: {
  getPeer: () => string
  getAuthContext: () => {
    readonly sslPeerCertificate?: { readonly subject?: { readonly CN?: string | Array<string> } }
  }
}): string => {
  const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN
  const subject = Array.isArray(cn) ? cn[0] : cn
  if (typeof subject === "string" && subject !== "") return subject
  return call
    .getPeer()
    .replace(/^ipv[46]:/, "")
    .replace(/:\d+$/, "")
}

// Kept from the client's deadline, so the answer (DEADLINE_EXCEEDED included) can reach it in time.
const DEADLINE_MARGIN_MS = 10

export const unaryHandler = <Req, Res>(
  runtime: Runtime.Runtime<never>,
  path: string,
  handle: (request: Req) => Effect.Effect<Res, AppError>,
  policy: UnaryPolicy
): handleUnaryCall<Req, Res> => {
  const run = Runtime.runCallback(runtime)
  const metrics = Context.getOrElse(runtime.context, RequestMetrics, () =>
    Context.get(RequestMetrics.noop, RequestMetrics)
  )
  const [service = "", method = ""] = path.slice(1).split("/")
  const spanName = path.slice(1)

  return (call, callback) => {
    const started = performance.now()
    const recorded = metrics.rpcStarted(path)
    let finished = false
    const requestId = requestIdOf(call.metadata)
    const clientRemaining = remainingMs(call.getDeadline())
    const budget = Math.min(
      policy.requestTimeoutMs,
      clientRemaining === undefined ? Number.POSITIVE_INFINITY : Math.max(0, clientRemaining - DEADLINE_MARGIN_MS)
    )
    const caller = callerOf(call)
    let subject: string | undefined
    const admitted = policy.admission.enter(caller)

    // A message that could not be decoded (see Tolerant.ts) never reaches the use case.
    const request: unknown = call.request
    const handled = !admitted.ok
      ? Effect.fail(new RateLimited({ reason: admitted.reason }))
      : request instanceof MalformedRequest
        ? Effect.zipRight(
            Effect.sync(admitted.leave),
            Effect.fail(new InvalidArgument({ field: "request", reason: "malformed request message" }))
          )
        : authenticated(policy, call.metadata, handle(call.request), (verified) => {
            subject = verified
          }).pipe(
            Effect.timeoutFail({ duration: budget, onTimeout: () => new DeadlineExceeded({ timeoutMs: budget }) }),
            Effect.locally(RequestDeadline, Option.some(Date.now() + budget)),
            Effect.ensuring(Effect.sync(admitted.leave))
          )

    // The request id goes back to the caller at once, in the response headers.
    const responseMetadata = new Metadata()
    responseMetadata.set("x-request-id", requestId)
    call.sendMetadata(responseMetadata)

    // Answer, record and log inside the server span, so the log line carries its trace and span ids.
    const respond = (exit: Exit.Exit<Res, AppError>) => {
      finished = true
      const durationMs = Math.round((performance.now() - started) * 100) / 100
      const who = subject === undefined ? {} : { subject }
      if (Exit.isSuccess(exit)) {
        recorded("OK")
        callback(null, exit.value)
        return Effect.annotateCurrentSpan("rpc.grpc.status_code", GrpcCode.OK).pipe(
          Effect.zipRight(Effect.logInfo("gRPC request completed")),
          Effect.annotateLogs({ code: "OK", duration_ms: durationMs, ...who })
        )
      }
      const outcome = outcomeOfCause(exit.cause)
      recorded(goCodeName(outcome.status.grpc))
      callback({ code: outcome.status.grpc, details: outcome.status.message })
      const fields = { code: grpcCodeName(outcome.status.grpc), duration_ms: durationMs, ...who }
      const log = (() => {
        switch (outcome._tag) {
          case "Defect":
            return Effect.logError("gRPC request failed", exit.cause).pipe(Effect.annotateLogs(fields))
          case "Interrupted":
            return Effect.logInfo("gRPC request failed").pipe(Effect.annotateLogs(fields))
          case "Failure": {
            const serverSide =
              outcome.status.grpc === GrpcCode.UNAVAILABLE || outcome.status.grpc === GrpcCode.DEADLINE_EXCEEDED
            const level = serverSide ? Effect.logWarning : Effect.logInfo
            return level("gRPC request failed", ...(serverSide ? [Cause.fail(outcome.error)] : [])).pipe(
              Effect.annotateLogs({ ...fields, error: outcome.status.message })
            )
          }
        }
      })()
      return Effect.zipRight(Effect.annotateCurrentSpan("rpc.grpc.status_code", outcome.status.grpc), log)
    }

    const program = handled.pipe(
      Effect.onExit(respond),
      Effect.withSpan(spanName, {
        kind: "server",
        // A caller's W3C traceparent/tracestate continues its trace.
        parent: traceParentOf(call.metadata),
        attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method, "request.id": requestId }
      }),
      Effect.annotateLogs({ method: path, request_id: requestId, caller })
    )

    const cancel = run(program)
    // grpc-js also emits "cancelled" after some completed calls: only a call still running needs interrupting.
    call.on("cancelled", () => {
      if (!finished) cancel()
    })
  }
}
