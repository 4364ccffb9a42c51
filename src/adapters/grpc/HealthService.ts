import type { handleServerStreamingCall, handleUnaryCall } from "@grpc/grpc-js"
import { status as GrpcCode } from "@grpc/grpc-js"
import { Effect, FiberId, Runtime, Stream } from "effect"
import { Lifecycle, type Readiness } from "../../ports/Lifecycle.js"
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
  HealthCheckResponse_ServingStatus as ServingStatus
} from "./generated/grpc/health/v1/health.js"

const servingStatus = (readiness: Readiness): ServingStatus =>
  readiness.status === "unready" ? ServingStatus.NOT_SERVING : ServingStatus.SERVING

/**
 * grpc.health.v1.Health, fed by the same model as /readyz: "" (the whole server) and every service it serves
 * report SERVING when ready or degraded, NOT_SERVING otherwise. Watch sends the status now and at every change;
 * at shutdown it sends NOT_SERVING and ends the stream, so open watches never hold the drain.
 */
export const makeHealthService = (services: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const lifecycle = yield* Lifecycle
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const runCallback = Runtime.runCallback(runtime)
    const known = new Set(["", ...services])
    const untilShutdown = <E, R>(changes: Stream.Stream<Readiness, E, R>) =>
      Stream.takeUntil(changes, (readiness) => readiness.phase === "shutting-down")

    const check: handleUnaryCall<HealthCheckRequest, HealthCheckResponse> = (call, callback) => {
      if (!known.has(call.request.service)) {
        callback({ code: GrpcCode.NOT_FOUND, details: `unknown service ${call.request.service.slice(0, 64)}` })
        return
      }
      // From the snapshot, in the turn the call arrives: under overload a probe must not queue behind the calls.
      const now = lifecycle.readinessNow()
      if (now !== undefined) return callback(null, { status: servingStatus(now) })
      runCallback(lifecycle.readiness, {
        onExit: (exit) =>
          exit._tag === "Success"
            ? callback(null, { status: servingStatus(exit.value) })
            : callback({ code: GrpcCode.INTERNAL, details: "internal error" })
      })
    }

    const watch: handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse> = (call) => {
      const service = call.request.service
      const updates = known.has(service)
        ? lifecycle.readinessChanges.pipe(
            untilShutdown,
            Stream.map(servingStatus),
            Stream.changes,
            Stream.runForEach((status) => Effect.sync(() => call.write({ status })))
          )
        : // Unknown: say so, then keep the call open (the protocol's rule) until the server stops.
          Effect.sync(() => call.write({ status: ServingStatus.SERVICE_UNKNOWN })).pipe(
            Effect.zipRight(Stream.runDrain(untilShutdown(lifecycle.readinessChanges)))
          )
      const fiber = runFork(updates.pipe(Effect.ensuring(Effect.sync(() => call.end()))))
      call.on("cancelled", () => fiber.unsafeInterruptAsFork(FiberId.none))
    }

    return { check, watch } satisfies HealthServer
  })
