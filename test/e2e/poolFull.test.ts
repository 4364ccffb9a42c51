import { assert, layer } from "@effect/vitest"
import { status } from "@grpc/grpc-js"
import { Effect, Fiber } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import type { SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { clientsFor, unary, within } from "../support/grpc.js"
import { pollUntil } from "../support/poll.js"
import { PostgresProxy, serviceBehindPostgresProxy } from "../support/service.js"

// One connection in the pool; waiting for it is bounded by DATABASE_CONNECT_TIMEOUT.
const Service = serviceBehindPostgresProxy({
  DATABASE_POOL_MAX_OPEN: "1",
  DATABASE_CONNECT_TIMEOUT: "300ms",
  DATABASE_READ_RETRIES: "0"
})

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("a full pool", (it) => {
  it.scoped("a call waiting for a pool connection gets UNAVAILABLE after the acquire timeout, never a hang", () =>
    Effect.gen(function* () {
      const proxy = yield* PostgresProxy
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
