import { Headers, HttpTraceContext } from "@effect/platform"
import { status as GrpcCode, type handleUnaryCall, Metadata } from "@grpc/grpc-js"
import { Context, Effect, Exit, FiberId, FiberRef, FiberRefs, HashMap, Option, Runtime, Tracer } from "effect"
import { type AppError, DeadlineExceeded, InvalidArgument } from "../../domain/errors.js"
import { RequestDeadline } from "../../ports/RequestContext.js"
import { goCodeName, outcomeOfCause } from "../edge/ErrorStatus.js"
import type { Operation } from "../edge/Operations.js"
import type { EdgePipeline } from "../edge/Pipeline.js"
import { requestIdOr } from "../edge/RequestId.js"
import { MalformedRequest } from "./Tolerant.js"

/** The caller's span, from `traceparent` (and `tracestate`) metadata, if it sent one. */
const traceParentOf = (metadata: Metadata): Tracer.ExternalSpan | undefined => {
  const [traceparent] = metadata.get("traceparent")
  if (typeof traceparent !== "string") return undefined
  const [tracestate] = metadata.get("tracestate")
  const headers = Headers.fromInput(typeof tracestate === "string" ? { traceparent, tracestate } : { traceparent })
  return Option.getOrUndefined(HttpTraceContext.fromHeaders(headers))
}

/** The `authorization` metadata: its first value, if any. */
const authorizationOf = (metadata: Metadata): string | undefined => {
  const [authorization] = metadata.get("authorization")
  return typeof authorization === "string" ? authorization : undefined
}

/** Milliseconds left until the call's deadline, or undefined when the client set none. */
const remainingMs = (deadline: Date | number): number | undefined => {
  const at = deadline instanceof Date ? deadline.getTime() : deadline
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined
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

/**
 * What a client that is gone saw: grpc-js ends a call at its deadline (answering DEADLINE_EXCEEDED) and when the
 * client resets the stream, which a client also does when its own deadline passes (a moment before the server's
 * view of it, which starts when the call is read): a reset within the margin of the deadline is that deadline.
 */
const goneCode = (deadline: Date | number): GrpcCode => {
  const left = remainingMs(deadline)
  return left !== undefined && left <= DEADLINE_MARGIN_MS ? GrpcCode.DEADLINE_EXCEEDED : GrpcCode.CANCELLED
}

/**
 * Turns a use case into a grpc-js unary handler that runs the edge pipeline (edge/Pipeline.ts) for `operation`.
 * The call runs on the service's runtime inside a server span; the client's deadline becomes the call's budget; a
 * cancelled call (client gone, or deadline passed) interrupts the fiber, which cancels whatever it awaits, SQL
 * queries included. One log line per call.
 *
 * The hot path: this runs for every call, so it does the per-call work once and outside the fiber where it can.
 * - One fiber per call, started at once, with its request data (server span as parent, log annotations, deadline)
 *   set when it is forked: one FiberRefs update instead of a `locally` per value.
 * - The server span is made with the runtime's tracer directly (no stack-trace capture, no extra fiber ops).
 * - The deadline is a timer that interrupts the fiber, not `Effect.timeoutFail` (which forks a second fiber
 *   per call); an interrupt by that timer is answered DEADLINE_EXCEEDED.
 * - The completion line is built only when its level is enabled.
 */
export const unaryHandler = <Req, Res>(
  pipeline: EdgePipeline,
  operation: Operation,
  path: string,
  handle: (request: Req, metadata: Metadata) => Effect.Effect<Res, AppError>
): handleUnaryCall<Req, Res> => {
  const { runtime, metrics, clock, tracer, enabled } = pipeline
  // The method's series exist at zero from start, so an alert on no traffic can fire before the first call.
  metrics.rpcDeclared?.(path)
  const [service = "", method = ""] = path.slice(1).split("/")
  const spanName = path.slice(1)
  const methodAnnotations = HashMap.set(pipeline.annotations, "method", path)

  /**
   * A refused call: answered at once, before any request id, span, fiber or log line, and counted with the code
   * the client gets (a caller already gone gets nothing: it is counted as what it saw).
   */
  const refuse = (
    call: Parameters<handleUnaryCall<Req, Res>>[0],
    callback: Parameters<handleUnaryCall<Req, Res>>[1],
    reason: string
  ) => {
    const recorded = metrics.rpcStarted(path)
    if (call.cancelled) recorded(goCodeName(goneCode(call.getDeadline())))
    else {
      recorded("ResourceExhausted")
      callback({ code: GrpcCode.RESOURCE_EXHAUSTED, details: reason })
    }
    pipeline.reportAdmission()
  }

  return (call, callback) => {
    // Admission first: a refused call costs as little as possible (see `refuse`).
    const admitted = pipeline.admission.enter(() => callerOf(call))
    if (!admitted.ok) return refuse(call, callback, admitted.reason)
    const started = performance.now()
    const startedAt = Date.now()
    const recorded = metrics.rpcStarted(path)
    let finished = false
    let timedOut = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const requestId = requestIdOr(call.metadata.get("x-request-id")[0])
    const clientRemaining = remainingMs(call.getDeadline())
    const budget = pipeline.budgetMs(
      clientRemaining === undefined ? undefined : Math.max(0, clientRemaining - DEADLINE_MARGIN_MS)
    )
    const budgetEnd = startedAt + budget
    const caller = callerOf(call)
    let subject: string | undefined

    // The server span; a caller's W3C traceparent/tracestate continues its trace.
    const span = tracer.span(
      spanName,
      Option.fromNullable(traceParentOf(call.metadata)),
      Context.empty(),
      [],
      clock.unsafeCurrentTimeNanos(),
      "server"
    )
    span.attribute("rpc.system", "grpc")
    span.attribute("rpc.service", service)
    span.attribute("rpc.method", method)
    span.attribute("request.id", requestId)

    // A message that could not be decoded (see Tolerant.ts) never reaches the use case.
    const request: unknown = call.request
    const handled: Effect.Effect<Res, AppError> =
      request instanceof MalformedRequest
        ? Effect.fail(new InvalidArgument({ field: "request", reason: "malformed request message" }))
        : pipeline.authorize(
            operation,
            authorizationOf(call.metadata),
            handle(call.request, call.metadata),
            (verified) => {
              subject = verified
            }
          )
    const fields = () => ({
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      ...(subject === undefined ? {} : { subject })
    })

    // The call's fiber: its context holds the server span only (a use case's requirements are `never`: it
    // captured its services when it was built), and its request data is set when it is forked.
    const context = Context.make(Tracer.ParentSpan, span)
    const refs = (fiberRefs: FiberRefs.FiberRefs, id: FiberId.Runtime) =>
      FiberRefs.updateManyAs(fiberRefs, {
        entries: [
          [FiberRef.currentContext, [[id, context]]],
          [
            FiberRef.currentLogAnnotations,
            [[id, HashMap.set(HashMap.set(methodAnnotations, "request_id", requestId), "caller", caller)]]
          ],
          [RequestDeadline, [[id, Option.some(Date.now() + budget)]]]
        ]
      })
    // Runs a log line as the call would: in its span, with its annotations (for lines written after it ended).
    const logAfter = (log: Effect.Effect<void>) => Runtime.runFork(runtime, log, { updateRefs: refs })

    // Answer, record, log, then end the span: synchronously, when the fiber is done. What is answered and recorded
    // is what the client gets: a call grpc-js already ended (the client cancelled it, or its deadline passed and
    // grpc-js answered DEADLINE_EXCEEDED) is CANCELLED or DEADLINE_EXCEEDED whatever the use case returned, and an
    // answer ready only after the call's budget is DEADLINE_EXCEEDED (the client gives up at its deadline).
    const respond = (result: Exit.Exit<Res, AppError>) => {
      finished = true
      if (timer !== undefined) clearTimeout(timer)
      admitted.leave()
      const gone = call.cancelled
      const exit: Exit.Exit<Res, AppError> = gone
        ? goneCode(call.getDeadline()) === GrpcCode.DEADLINE_EXCEEDED
          ? Exit.fail(new DeadlineExceeded({ timeoutMs: budget }))
          : Exit.interrupt(FiberId.none)
        : timedOut || Date.now() >= budgetEnd
          ? Exit.fail(new DeadlineExceeded({ timeoutMs: budget }))
          : result
      if (!gone) {
        // The request id goes back in the response headers (sent with the answer, in the same write).
        const responseMetadata = new Metadata()
        responseMetadata.set("x-request-id", requestId)
        call.sendMetadata(responseMetadata)
      }
      let code: GrpcCode = GrpcCode.OK
      if (Exit.isSuccess(exit)) {
        recorded("OK")
        callback(null, exit.value)
      } else {
        const outcome = outcomeOfCause(exit.cause)
        code = outcome.status.grpc
        recorded(goCodeName(code))
        // A deadline states the time this call had (an upstream's DEADLINE_EXCEEDED names its own setting).
        const details =
          code === GrpcCode.DEADLINE_EXCEEDED
            ? `deadline exceeded after ${Math.min(budget, Math.round(performance.now() - started))} ms`
            : outcome.status.message
        if (!gone) callback({ code, details })
        const log = pipeline.failureLine("gRPC", exit, outcome, fields())
        if (log !== undefined) logAfter(log)
      }
      span.attribute("rpc.grpc.status_code", code)
      span.end(clock.unsafeCurrentTimeNanos(), exit)
      pipeline.reportAdmission()
    }

    // The completion line of a call that succeeded is written by its fiber, when that level is on. It is the
    // fiber's last step, so its fields are added to the fiber's annotations for good (no `annotateLogs`, which
    // would also restore them).
    const program = enabled.info
      ? Effect.tap(handled, () =>
          Effect.zipRight(
            FiberRef.update(FiberRef.currentLogAnnotations, (current) =>
              Object.entries({ code: "OK", ...fields() }).reduce(
                (annotated, [key, value]) => HashMap.set(annotated, key, value),
                current
              )
            ),
            Effect.logInfo("gRPC request completed")
          )
        )
      : handled
    const fiber = Runtime.runFork(runtime, program, { updateRefs: refs })
    fiber.addObserver(respond)
    // The fiber may have finished already (a refused or invalid call answers without waiting for anything).
    if (!finished) {
      timer = setTimeout(() => {
        timedOut = true
        fiber.unsafeInterruptAsFork(FiberId.none)
      }, budget)
    }
    // grpc-js also emits "cancelled" after some completed calls: only a call still running needs interrupting.
    call.on("cancelled", () => {
      if (!finished) fiber.unsafeInterruptAsFork(FiberId.none)
    })
  }
}
