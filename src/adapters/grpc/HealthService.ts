import { type Server, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData, status } from "@grpc/grpc-js"
import { Effect, Runtime, Stream } from "effect"
import { HealthImplementation, type ServingStatus } from "grpc-health-check"
import { Lifecycle, type Readiness } from "../../ports/Lifecycle.js"

const servingStatus = (readiness: Readiness): ServingStatus =>
  readiness.status === "unready" ? "NOT_SERVING" : "SERVING"

type Request = { readonly service: string }
type Response = { readonly status: string }
/** The package types its handlers as a union of every call shape: each is called with the shape it handles. */
type Handler = (...args: ReadonlyArray<never>) => unknown

/**
 * grpc.health.v1.Health from the gRPC project's grpc-health-check, fed by the same model as /readyz: "" (the whole
 * server) and every service it serves report SERVING when ready or degraded, NOT_SERVING otherwise. Around the
 * package, two things it does not do:
 * - Check of a served service answers from /readyz's snapshot, in the turn the call arrives (under overload a
 *   probe must not queue behind the calls), so it never disagrees with /readyz; the package's status map, which
 *   Watch sends from, follows the readiness stream and so lags it by up to a check period;
 * - at shutdown Watch sends NOT_SERVING and ends the stream, so open watches never hold the drain (the package
 *   keeps every watch open until the client leaves).
 */
export const addHealthService = (server: Server, services: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const lifecycle = yield* Lifecycle
    const runCallback = Runtime.runCallback(yield* Effect.runtime<never>())
    const known = ["", ...services]
    const health = new HealthImplementation(Object.fromEntries(known.map((service) => [service, "NOT_SERVING"])))
    const watches = new Set<ServerWritableStream<Request, Response>>()
    let published: ServingStatus = "NOT_SERVING"
    let shutDown = false

    // The package tells every watcher of a service on each setStatus: only changes are set.
    const publish = (next: ServingStatus) => {
      if (next === published) return
      published = next
      for (const service of known) health.setStatus(service, next)
    }
    const endWatches = () => {
      shutDown = true
      for (const call of watches) call.end()
      watches.clear()
    }
    yield* lifecycle.readinessChanges.pipe(
      Stream.takeUntil((readiness) => readiness.phase === "shutting-down"),
      Stream.runForEach((readiness) => Effect.sync(() => publish(servingStatus(readiness)))),
      Effect.ensuring(Effect.sync(endWatches)),
      Effect.forkScoped
    )

    const check =
      (delegate: Handler) => (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
        // Unknown services: the package's NOT_FOUND.
        if (!known.includes(call.request.service)) return Reflect.apply(delegate, undefined, [call, callback])
        const now = lifecycle.readinessNow()
        if (now !== undefined) return callback(null, { status: servingStatus(now) })
        runCallback(lifecycle.readiness, {
          onExit: (exit) =>
            exit._tag === "Success"
              ? callback(null, { status: servingStatus(exit.value) })
              : callback({ code: status.INTERNAL, details: "internal error" })
        })
      }

    const watch = (delegate: Handler) => (call: ServerWritableStream<Request, Response>) => {
      Reflect.apply(delegate, undefined, [call])
      if (shutDown) return call.end()
      watches.add(call)
      call.on("cancelled", () => watches.delete(call))
    }

    health.addToServer({
      addService: (definition, implementation) => {
        const { check: packageCheck, watch: packageWatch } = implementation
        if (packageCheck === undefined || packageWatch === undefined)
          throw new Error("grpc-health-check registered no Check or Watch handler")
        server.addService(definition, { ...implementation, check: check(packageCheck), watch: watch(packageWatch) })
      }
    })
  })
