import { assert, describe, it } from "@effect/vitest"
import { credentials, Server, ServerCredentials } from "@grpc/grpc-js"
import { Effect, Layer } from "effect"
import {
  type HealthCheckResponse,
  HealthClient,
  HealthCheckResponse_ServingStatus as Serving
} from "../../src/adapters/grpc/generated/grpc/health/v1/health.js"
import { addHealthService } from "../../src/adapters/grpc/HealthService.js"
import { HealthChecksLive } from "../../src/adapters/health/HealthChecks.js"
import { LifecycleLive } from "../../src/adapters/health/Lifecycle.js"
import { Lifecycle } from "../../src/ports/Lifecycle.js"
import { pollUntil } from "../support/poll.js"

const LifecycleTest = LifecycleLive({
  startupSteps: [],
  checkTimeout: "1 second",
  cacheTtl: "100 millis",
  critical: undefined
}).pipe(Layer.provide(HealthChecksLive))

/** A Watch's messages, and whether the server ended it. */
const watching = (client: HealthClient, service: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const seen = { statuses: [] as Array<Serving>, ended: false }
      const call = client.watch({ service })
      call.on("data", (message: HealthCheckResponse) => seen.statuses.push(message.status))
      call.on("end", () => {
        seen.ended = true
      })
      call.on("error", () => {})
      return { seen, call }
    }),
    ({ call }) => Effect.sync(() => call.cancel())
  ).pipe(Effect.map(({ seen }) => seen))

describe("grpc.health.v1 (grpc-health-check)", () => {
  it.scopedLive(
    "at shutdown every open Watch gets NOT_SERVING (known services) and is ended, so none holds the drain",
    () =>
      Effect.gen(function* () {
        const server = new Server()
        yield* addHealthService(server, ["hello_world.Greeter"])
        const port = yield* Effect.acquireRelease(
          Effect.async<number, Error>((resume) =>
            server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
              resume(error ? Effect.fail(error) : Effect.succeed(bound))
            )
          ),
          () => Effect.sync(() => server.forceShutdown())
        )
        const client = yield* Effect.acquireRelease(
          Effect.sync(() => new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure())),
          (c) => Effect.sync(() => c.close())
        )
        const whole = yield* watching(client, "")
        const unknown = yield* watching(client, "no.such.Service")
        yield* pollUntil(
          Effect.sync(() => whole.statuses.at(-1) === Serving.SERVING && unknown.statuses.length === 1),
          (ready) => ready,
          "10 seconds"
        )
        yield* (yield* Lifecycle).beginShutdown
        yield* pollUntil(
          Effect.sync(() => whole.ended && unknown.ended),
          (ended) => ended,
          "10 seconds"
        )
        assert.deepStrictEqual(whole.statuses, [Serving.SERVING, Serving.NOT_SERVING])
        assert.deepStrictEqual(unknown.statuses, [Serving.SERVICE_UNKNOWN])
        // A Watch that starts after the shutdown began is told NOT_SERVING and ended at once.
        const late = yield* watching(client, "")
        yield* pollUntil(
          Effect.sync(() => late.ended),
          (ended) => ended,
          "10 seconds"
        )
        assert.deepStrictEqual(late.statuses, [Serving.NOT_SERVING])
      }).pipe(Effect.provide(LifecycleTest))
  )
})
