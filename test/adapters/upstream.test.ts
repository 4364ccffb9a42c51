import { assert, describe, expect, it } from "@effect/vitest"
import { type Metadata, Server, ServerCredentials, status } from "@grpc/grpc-js"
import { Context, Duration, Effect, Layer, Option } from "effect"
import { GreeterService } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { GrpcUpstreamGreeterLive } from "../../src/adapters/grpc/UpstreamGreeterClient.js"
import { UserId } from "../../src/domain/User.js"
import { RequestDeadline } from "../../src/ports/RequestContext.js"
import { UpstreamGreeter } from "../../src/ports/UpstreamGreeter.js"

interface Seen {
  deadline: number
  traceparent: string
}

/** A fake upstream Greeter that records what each call carried and answers by user id. */
class FakeUpstream extends Context.Tag("test/FakeUpstream")<
  FakeUpstream,
  { readonly port: number; readonly seen: Array<Seen> }
>() {}

const FakeUpstreamLive = Layer.scoped(
  FakeUpstream,
  Effect.gen(function* () {
    const seen: Array<Seen> = []
    const server = new Server()
    server.addService(GreeterService, {
      sayHello: (
        call: { request: { userId: bigint }; metadata: Metadata; getDeadline: () => Date | number },
        callback: (error: { code: number; details: string } | null, value?: unknown) => void
      ) => {
        const deadline = call.getDeadline()
        seen.push({
          deadline: deadline instanceof Date ? deadline.getTime() : deadline,
          traceparent: String(call.metadata.get("traceparent")[0] ?? "")
        })
        if (call.request.userId === 404n) return callback({ code: status.NOT_FOUND, details: "no such user" })
        if (call.request.userId === 503n) return callback({ code: status.UNAVAILABLE, details: "down" })
        if (call.request.userId === 777n) return // a slow upstream: never answers
        callback(null, { message: "Hello!", user: { id: call.request.userId, name: "X", email: "x@example.com" } })
      }
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number, Error>((resume) =>
        server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
          resume(error ? Effect.fail(error) : Effect.succeed(bound))
        )
      ),
      () => Effect.sync(() => server.forceShutdown())
    )
    return { port, seen }
  })
)

const Upstream = Layer.unwrapEffect(
  Effect.map(FakeUpstream, ({ port }) =>
    GrpcUpstreamGreeterLive({
      address: `127.0.0.1:${port}`,
      timeout: Duration.seconds(5),
      breakerThreshold: 3,
      breakerResetAfter: Duration.seconds(30)
    })
  )
).pipe(Layer.provideMerge(FakeUpstreamLive))

// Each test gets an Upstream of its own (a fresh fake server and a fresh client, so a fresh breaker): a breaker
// another test opened, or calls another test recorded, must not change what a test sees, whatever the order.
describe("UpstreamGreeter over gRPC", () => {
  it.live("passes what is left of the request's deadline, and the trace context of its client span", () =>
    Effect.gen(function* () {
      const { seen } = yield* FakeUpstream
      const requestEnd = Date.now() + 300
      const traceId = yield* Effect.flatMap(UpstreamGreeter, (upstream) => upstream.sayHello(UserId.make(1n))).pipe(
        Effect.locally(RequestDeadline, Option.some(requestEnd)),
        Effect.zipRight(Effect.map(Effect.currentSpan, (span) => span.traceId)),
        Effect.withSpan("test.request")
      )
      const last = seen.at(-1)
      // grpc-timeout is relative: the server's deadline lands a few ms later than ours (transit), far below 5 s.
      assert.isAtMost(last?.deadline ?? Number.POSITIVE_INFINITY, requestEnd + 50)
      assert.match(last?.traceparent ?? "", new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`))
    }).pipe(Effect.provide(Upstream))
  )

  it.live("without a request deadline, uses GREETER_UPSTREAM_TIMEOUT", () =>
    Effect.gen(function* () {
      const { seen } = yield* FakeUpstream
      const before = Date.now()
      yield* Effect.flatMap(UpstreamGreeter, (upstream) => upstream.sayHello(UserId.make(2n)))
      const deadline = seen.at(-1)?.deadline ?? 0
      assert.isAtLeast(deadline, before + 4000)
      assert.isAtMost(deadline, Date.now() + 5000)
    }).pipe(Effect.provide(Upstream))
  )

  it.live("maps the upstream's NOT_FOUND to UserNotFound and other failures to DependencyUnavailable", () =>
    Effect.gen(function* () {
      const upstream = yield* UpstreamGreeter
      assert.strictEqual((yield* Effect.flip(upstream.sayHello(UserId.make(404n))))._tag, "UserNotFound")
      const startedDown = Date.now()
      const down = yield* Effect.flip(upstream.sayHello(UserId.make(503n)))
      expect(Date.now() - startedDown).toBeLessThan(200)
      assert.strictEqual(down._tag, "DependencyUnavailable")
      assert.strictEqual(down.message, "upstream unavailable (sayHello)")
    }).pipe(Effect.provide(Upstream))
  )

  it.live("a slow upstream costs no more than what is left of the request's deadline", () =>
    Effect.gen(function* () {
      const upstream = yield* UpstreamGreeter
      const started = Date.now()
      const error = yield* Effect.flip(upstream.sayHello(UserId.make(777n))).pipe(
        Effect.locally(RequestDeadline, Option.some(started + 200))
      )
      expect(error._tag).toBe("DeadlineExceeded")
      expect(Date.now() - started).toBeLessThan(600)
    }).pipe(Effect.provide(Upstream))
  )

  it.live("NOT_FOUND does not open the breaker; three failures in a row do, and then calls fail at once", () =>
    Effect.gen(function* () {
      const upstream = yield* UpstreamGreeter
      const { seen } = yield* FakeUpstream
      for (let i = 0; i < 5; i++)
        assert.strictEqual((yield* Effect.flip(upstream.sayHello(UserId.make(404n))))._tag, "UserNotFound")
      for (let i = 0; i < 3; i++) yield* Effect.flip(upstream.sayHello(UserId.make(503n)))
      const callsBefore = seen.length
      const open = yield* Effect.flip(upstream.sayHello(UserId.make(1n)))
      assert.strictEqual(open._tag, "DependencyUnavailable")
      assert.strictEqual(seen.length, callsBefore, "no call reached the upstream while the breaker was open")
    }).pipe(Effect.provide(Upstream))
  )
})
