import { assert, layer } from "@effect/vitest"
import { status } from "@grpc/grpc-js"
import { Context, Effect, Fiber, Layer, Redacted } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import type { SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { type FaultProxy, startFaultProxy } from "../support/FaultProxy.js"
import { clientsFor, unary, within } from "../support/grpc.js"
import { pollUntil } from "../support/poll.js"
import { SeededDatabase, serviceOnHarness } from "../support/service.js"
import { FreshDatabaseUrl } from "../support/TestDatabase.js"

class PoolProxy extends Context.Tag("test/PoolProxy")<PoolProxy, FaultProxy>() {}
const PoolProxyLive = Layer.scoped(
  PoolProxy,
  Effect.gen(function* () {
    const target = new URL(Redacted.value((yield* FreshDatabaseUrl).url))
    return yield* Effect.acquireRelease(
      Effect.promise(() => startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) })),
      (p) => Effect.promise(p.close)
    )
  })
).pipe(Layer.provide(SeededDatabase))

// One connection in the pool; waiting for it is bounded by DATABASE_CONNECT_TIMEOUT.
const Service = serviceOnHarness(
  Effect.gen(function* () {
    const proxy = yield* PoolProxy
    const dsn = new URL(Redacted.value((yield* FreshDatabaseUrl).url))
    dsn.host = `127.0.0.1:${proxy.port}`
    return {
      DATABASE_DSN: dsn.toString(),
      DATABASE_POOL_MAX_OPEN: "1",
      DATABASE_CONNECT_TIMEOUT: "300ms",
      DATABASE_READ_RETRIES: "0"
    }
  })
).pipe(Layer.provideMerge(PoolProxyLive))

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("a full pool", (it) => {
  it.scoped("a call waiting for a pool connection gets UNAVAILABLE after the acquire timeout, never a hang", () =>
    Effect.gen(function* () {
      const proxy = yield* PoolProxy
      const { greeter } = yield* clientsFor((yield* GrpcServer).port)
      const call = (userId: bigint) =>
        unary<SayHelloResponse>((cb) => greeter.sayHello({ userId }, ...within(5000), cb)).pipe(Effect.either)
      yield* pollUntil(
        Effect.map(call(1n), (r) => r._tag),
        (tag) => tag === "Right",
        "5 seconds"
      )
      proxy.setLatency(2000) // the pool's one connection is now busy for 2 s per round trip
      const holder = yield* Effect.fork(call(900_001n))
      yield* Effect.sleep("100 millis") // the holder has the connection
      const started = performance.now()
      const waiting = yield* call(900_002n)
      const waitedMs = performance.now() - started
      proxy.setLatency(0)
      yield* Fiber.await(holder)
      console.log(
        `[measure] full pool: UNAVAILABLE after ${waitedMs.toFixed(0)} ms waiting for a connection (timeout 300 ms)`
      )
      assert.strictEqual(waiting._tag === "Left" ? waiting.left.code : status.OK, status.UNAVAILABLE)
      assert.isBelow(waitedMs, 1000)
    })
  )
})
