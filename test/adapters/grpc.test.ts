import { assert, layer } from "@effect/vitest"
import { Server, ServerCredentials, status } from "@grpc/grpc-js"
import { Context, Deferred, Effect, Fiber, Layer } from "effect"
import {
  GreeterService,
  type SayHelloRequest,
  type SayHelloResponse
} from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { type AppError, DependencyUnavailable, UserNotFound } from "../../src/domain/errors.js"
import { UserId } from "../../src/domain/User.js"
import { clientsFor, sayHelloOnEdge, statusOf, unary, within } from "../support/grpc.js"
import { captureLogs } from "../support/logs.js"
import { pollUntil } from "../support/poll.js"

type Handle = (request: SayHelloRequest) => Effect.Effect<SayHelloResponse, AppError>

/** A Greeter server whose SayHello runs whatever the current test puts in `handler.current`. */
class TestServer extends Context.Tag("test/TestServer")<
  TestServer,
  { readonly port: number; readonly handler: { current: Handle } }
>() {}

const logs = captureLogs()

const TestServerLive = Layer.scoped(
  TestServer,
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const handler: { current: Handle } = { current: () => Effect.die("no handler set") }
    const server = new Server()
    server.addService(GreeterService, {
      sayHello: sayHelloOnEdge(runtime, (request: SayHelloRequest) => handler.current(request))
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number, Error>((resume) =>
        server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
          resume(error ? Effect.fail(error) : Effect.succeed(bound))
        )
      ),
      () => Effect.sync(() => server.forceShutdown())
    )
    return { port, handler }
  })
).pipe(Layer.provide(logs.layer))

const lastCallLog = pollUntil(
  Effect.sync(() => logs.entries.filter((e) => String(e.message).startsWith("gRPC request")).at(-1)),
  (entry) => entry !== undefined
)

layer(TestServerLive, { excludeTestServices: true })("gRPC edge", (it) => {
  it.scoped("a defect becomes INTERNAL with a generic message; the details go to the log only", () =>
    Effect.gen(function* () {
      const { port, handler } = yield* TestServer
      handler.current = () => Effect.die(new Error("boom: secret detail of a bug"))
      const { greeter } = yield* clientsFor(port)
      logs.entries.length = 0
      assert.deepStrictEqual(yield* statusOf(unary((cb) => greeter.sayHello({ userId: 1n }, cb))), {
        code: status.INTERNAL,
        details: "internal error"
      })
      const entry = yield* lastCallLog
      assert.strictEqual(entry?.level, "error")
      assert.strictEqual(entry?.code, "INTERNAL")
      assert.include(String(entry?.error), "boom: secret detail of a bug")
    })
  )

  it.scoped("a dependency failure becomes UNAVAILABLE naming the dependency, never its cause", () =>
    Effect.gen(function* () {
      const { port, handler } = yield* TestServer
      handler.current = () =>
        Effect.fail(
          new DependencyUnavailable({
            dependency: "database",
            operation: "findById",
            cause: new Error("connect ECONNREFUSED 10.0.0.7:5432 password=hunter2")
          })
        )
      const { greeter } = yield* clientsFor(port)
      const answer = yield* statusOf(unary((cb) => greeter.sayHello({ userId: 1n }, cb)))
      assert.deepStrictEqual(answer, { code: status.UNAVAILABLE, details: "database unavailable (findById)" })
    })
  )

  it.scoped("typed errors map to their codes", () =>
    Effect.gen(function* () {
      const { port, handler } = yield* TestServer
      handler.current = () => Effect.fail(new UserNotFound({ id: UserId.make(7n) }))
      const { greeter } = yield* clientsFor(port)
      assert.deepStrictEqual(yield* statusOf(unary((cb) => greeter.sayHello({ userId: 7n }, cb))), {
        code: status.NOT_FOUND,
        details: "user 7 not found"
      })
    })
  )

  it.scoped("the client's deadline interrupts the handler's fiber and answers DEADLINE_EXCEEDED", () =>
    Effect.gen(function* () {
      const { port, handler } = yield* TestServer
      const interrupted = yield* Deferred.make<void>()
      handler.current = () => Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      const { greeter } = yield* clientsFor(port)
      const answer = yield* statusOf(unary((cb) => greeter.sayHello({ userId: 1n }, ...within(200), cb)))
      assert.strictEqual(answer.code, status.DEADLINE_EXCEEDED)
      yield* Deferred.await(interrupted).pipe(Effect.timeout("2 seconds"))
    })
  )

  it.scoped("a client that cancels interrupts the handler's fiber", () =>
    Effect.gen(function* () {
      const { port, handler } = yield* TestServer
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      handler.current = () =>
        Deferred.succeed(started, undefined).pipe(
          Effect.zipRight(Effect.never),
          Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
        )
      const { greeter } = yield* clientsFor(port)
      const call = yield* Effect.fork(unary((cb) => greeter.sayHello({ userId: 1n }, cb)))
      yield* Deferred.await(started).pipe(Effect.timeout("2 seconds"))
      yield* Fiber.interrupt(call)
      yield* Deferred.await(interrupted).pipe(Effect.timeout("2 seconds"))
    })
  )
})
