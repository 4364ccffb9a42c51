import { HttpServer } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { Client, credentials, status } from "@grpc/grpc-js"
import { Effect, Fiber } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import type { SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { clientsFor, unary, within } from "../support/grpc.js"
import { pollUntil } from "../support/poll.js"
import { PostgresProxy, serviceBehindPostgresProxy } from "../support/service.js"

// Short timeouts so the faults show within a test's time.
const Service = serviceBehindPostgresProxy({
  DATABASE_CONNECT_TIMEOUT: "300ms",
  DATABASE_BREAKER_RESET: "500ms",
  MAX_IN_FLIGHT: "4"
})

/** A user id nobody has read: every call for it needs Postgres (no cache entry). */
let uncached = 100_000n
const fresh = () => uncached++

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = performance.now()
    const result = yield* Effect.either(effect)
    return { result, ms: performance.now() - started }
  })

const sayHello = (userId: bigint, deadlineMs = 5000) =>
  Effect.flatMap(GrpcServer, (server) =>
    Effect.flatMap(clientsFor(server.port), ({ greeter }) =>
      unary<SayHelloResponse>((cb) => greeter.sayHello({ userId }, ...within(deadlineMs), cb))
    )
  )
const codeOf = (result: { readonly _tag: "Left" | "Right"; readonly left?: { readonly code: number } }) =>
  result._tag === "Right" ? status.OK : (result.left?.code ?? -1)

/**
 * Waits (bounded) until a call for an id nobody has read is answered by Postgres (OK or NOT_FOUND): the database is
 * reached through the proxy and its breaker is closed with no failure counted. A cached id (Alice) would answer OK
 * with the breaker still open from an earlier test, and that test's outage would spill into the next one.
 */
const untilPostgresServes = pollUntil(
  Effect.map(timed(Effect.suspend(() => sayHello(fresh()))), (r) => codeOf(r.result)),
  (code) => code === status.OK || code === status.NOT_FOUND,
  "10 seconds",
  "50 millis"
)

/**
 * The suite's proxy as each test starts from: forwarding with no latency, Postgres serving through it (whatever an
 * earlier test left behind), and put back to forwarding when the test ends, passed or failed.
 */
const healthyProxy = Effect.gen(function* () {
  const proxy = yield* PostgresProxy
  const restore = Effect.sync(() => {
    proxy.setLatency(0)
    proxy.setMode("forward")
  })
  yield* restore
  yield* Effect.addFinalizer(() => restore)
  yield* untilPostgresServes
  return proxy
})

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("faults", (it) => {
  it.scoped("Postgres stopped: UNAVAILABLE fast, then at once when the breaker is open; recovers when it is back", () =>
    Effect.gen(function* () {
      const proxy = yield* healthyProxy
      proxy.setMode("refuse")
      const first = yield* timed(sayHello(fresh()))
      assert.strictEqual(codeOf(first.result), status.UNAVAILABLE)
      for (let i = 0; i < 5; i++) yield* timed(sayHello(fresh()))
      const open = yield* timed(sayHello(fresh()))
      assert.strictEqual(codeOf(open.result), status.UNAVAILABLE)
      proxy.setMode("forward")
      const backAt = performance.now()
      yield* untilPostgresServes
      const recoveredMs = performance.now() - backAt
      console.log(
        `[measure] Postgres stopped: first call UNAVAILABLE in ${first.ms.toFixed(0)} ms; breaker open: ${open.ms.toFixed(1)} ms; serving again ${recoveredMs.toFixed(0)} ms after Postgres was back`
      )
      assert.isBelow(first.ms, 1000)
      // A few ms on a quiet machine (the figure above); generous for a busy one.
      assert.isBelow(open.ms, 1000)
    })
  )

  it.scoped(
    "Postgres frozen (connections hang): UNAVAILABLE within the connect timeout and retries, never a hang",
    () =>
      Effect.gen(function* () {
        const proxy = yield* healthyProxy
        proxy.setMode("blackhole")
        const frozen = yield* timed(sayHello(fresh()))
        assert.strictEqual(codeOf(frozen.result), status.UNAVAILABLE)
        console.log(
          `[measure] Postgres frozen: UNAVAILABLE in ${frozen.ms.toFixed(0)} ms (connect timeout 300 ms, 2 read retries)`
        )
        assert.isBelow(frozen.ms, 2000)
        proxy.setMode("forward")
        yield* untilPostgresServes
      })
  )

  it.scoped(
    "overload: past MAX_IN_FLIGHT calls are refused with RESOURCE_EXHAUSTED at once; /livez still answers",
    () =>
      Effect.gen(function* () {
        const proxy = yield* healthyProxy
        proxy.setMode("blackhole") // the next 4 calls hang in Postgres
        const stuck = yield* Effect.forEach(Array.from({ length: 4 }), () => Effect.fork(sayHello(fresh())))
        const server = yield* HttpServer.HttpServer
        const port = server.address._tag === "TcpAddress" ? server.address.port : 0
        // Until the server holds all 4 (its in-flight gauge), bounded.
        const inFlight = Effect.promise(() =>
          fetch(`http://127.0.0.1:${port}/metrics`)
            .then((r) => r.text())
            .then((text) =>
              Number(
                /^grpc_requests_in_flight\{method="\/hello_world.Greeter\/SayHello"\} (\d+)$/m.exec(text)?.[1] ?? 0
              )
            )
        )
        yield* pollUntil(inFlight, (n) => n >= 4, "10 seconds", "10 millis")
        const shed = yield* timed(sayHello(fresh()))
        const livez = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/livez`).then((r) => r.status))
        console.log(`[measure] overload: shed with RESOURCE_EXHAUSTED in ${shed.ms.toFixed(1)} ms`)
        assert.strictEqual(codeOf(shed.result), status.RESOURCE_EXHAUSTED)
        // Refused without waiting: an admitted call would hang to its 5 s deadline. A few ms on a quiet machine
        // (the figure above); the bound is generous for a busy one.
        assert.isBelow(shed.ms, 1000)
        assert.strictEqual(livez, 200)
        proxy.setMode("forward")
        yield* Effect.forEach(stuck, (fiber) => Fiber.await(fiber))
      })
  )

  it.scoped(
    "Postgres slow (1.5 s each way): a 200 ms deadline answers DEADLINE_EXCEEDED near it, not after the query",
    () =>
      Effect.gen(function* () {
        const proxy = yield* healthyProxy
        proxy.setLatency(1500)
        const slow = yield* timed(sayHello(fresh(), 200))
        proxy.setLatency(0)
        console.log(`[measure] Postgres slow: DEADLINE_EXCEEDED in ${slow.ms.toFixed(0)} ms with a 200 ms deadline`)
        assert.strictEqual(codeOf(slow.result), status.DEADLINE_EXCEEDED)
        // Near 200 ms on a quiet machine; the query would take over 3 s.
        assert.isBelow(slow.ms, 1500)
      })
  )

  it.scoped("malformed protobuf bytes: INVALID_ARGUMENT; an unknown method: UNIMPLEMENTED", () =>
    Effect.gen(function* () {
      // Its last call reads Alice, maybe not cached: Postgres serving, whatever an earlier test left.
      yield* healthyProxy
      const port = (yield* GrpcServer).port
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new Client(`127.0.0.1:${port}`, credentials.createInsecure())),
        (c) => Effect.sync(() => c.close())
      )
      const raw = (path: string, bytes: Buffer) =>
        Effect.async<Buffer, { readonly code: number; readonly details: string }>((resume) => {
          client.makeUnaryRequest(
            path,
            (b: Buffer) => b,
            (b: Buffer) => b,
            bytes,
            (error, value) => resume(error ? Effect.fail(error) : Effect.succeed(value ?? Buffer.alloc(0)))
          )
        })
      // Field 1 as a length-delimited field claiming 100 bytes that are not there.
      const started = performance.now()
      const malformed = yield* Effect.flip(raw("/hello_world.Greeter/SayHello", Buffer.from([0x0a, 0x64, 0x01])))
      // Answered, not hung (there is no deadline): milliseconds on a quiet machine, generous for a busy one.
      assert.isBelow(performance.now() - started, 5000)
      assert.deepStrictEqual(
        { code: malformed.code, details: malformed.details },
        {
          code: status.INVALID_ARGUMENT,
          details: "invalid request: malformed request message"
        }
      )
      const startedUnknown = performance.now()
      const unknown = yield* Effect.flip(raw("/hello_world.Greeter/SayGoodbye", Buffer.alloc(0)))
      assert.strictEqual(unknown.code, status.UNIMPLEMENTED)
      assert.isBelow(performance.now() - startedUnknown, 5000)
      // And the server is fine afterwards.
      assert.strictEqual((yield* sayHello(1n)).message, "Hello, Alice!")
    })
  )
})
