import { randomBytes } from "node:crypto"
import { SqlClient } from "@effect/sql"
import { assert, layer } from "@effect/vitest"
import { Metadata } from "@grpc/grpc-js"
import { Context, Effect, Layer, Redacted } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import type { SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { clientsFor, statusOf, unary } from "../support/grpc.js"
import { captureLogs } from "../support/logs.js"
import { type OtlpReceiver, startOtlpReceiver } from "../support/OtlpReceiver.js"
import { pollUntil } from "../support/poll.js"
import { portOf, startService, stopAll } from "../support/process.js"
import { SeededDatabase, serviceOnHarness } from "../support/service.js"
import { FreshDatabaseUrl } from "../support/TestDatabase.js"

// Export every 100 ms instead of every 5 s (the SDK reads this when the span processor is built).
process.env.OTEL_BSP_SCHEDULE_DELAY = "100"

class Receiver extends Context.Tag("test/Receiver")<Receiver, OtlpReceiver>() {}
const ReceiverLive = Layer.scoped(
  Receiver,
  Effect.acquireRelease(Effect.promise(startOtlpReceiver), (r) => Effect.promise(r.close))
)

/** A second Greeter, as a separate process, on the same database and the same collector. */
class ServiceB extends Context.Tag("test/ServiceB")<ServiceB, { readonly port: number }>() {}
const ServiceBLive = Layer.scoped(
  ServiceB,
  Effect.gen(function* () {
    const { url } = yield* FreshDatabaseUrl
    const receiver = yield* Receiver
    const service = startService({
      GRPC_SERVER_URL: "127.0.0.1:0",
      HTTP_SERVER_URL: "127.0.0.1:0",
      DATABASE_DSN: Redacted.value(url),
      DATABASE_MIGRATE: "false",
      TRACING_COLLECTOR_URL: `127.0.0.1:${receiver.port}`,
      TRACING_SERVICE_NAME: "greeter-b",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100"
    })
    yield* Effect.addFinalizer(() => Effect.sync(stopAll))
    yield* Effect.promise(() => service.waitForLog((l) => l.message === "Service ready", 20_000))
    return {
      port: portOf(yield* Effect.promise(() => service.waitForLog((l) => l.message === "gRPC server listening", 1000)))
    }
  })
).pipe(Layer.provide(SeededDatabase))

const logs = captureLogs()

// Service A, in process: traces to the receiver, and calls B first.
const Service = serviceOnHarness(
  Effect.gen(function* () {
    const receiver = yield* Receiver
    const b = yield* ServiceB
    return {
      TRACING_COLLECTOR_URL: `127.0.0.1:${receiver.port}`,
      TRACING_SERVICE_NAME: "greeter-a",
      GREETER_UPSTREAM_URL: `127.0.0.1:${b.port}`
    }
  })
).pipe(Layer.provideMerge(ServiceBLive), Layer.provideMerge(ReceiverLive), Layer.provide(logs.layer))

const traceparent = () => {
  const traceId = randomBytes(16).toString("hex")
  const spanId = randomBytes(8).toString("hex")
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` }
}

const sayHelloWith = (userId: bigint, header: string) =>
  Effect.flatMap(GrpcServer, (server) =>
    Effect.flatMap(clientsFor(server.port), ({ greeter }) => {
      const metadata = new Metadata()
      metadata.set("traceparent", header)
      metadata.set("x-request-id", `trace-test-${userId}`)
      return unary<SayHelloResponse>((cb) => greeter.sayHello({ userId }, metadata, cb))
    })
  )

/** A user no one has read yet, so neither service has it cached: reading it goes down to SQL. */
const freshUser = (name: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const email = `${name.toLowerCase()}.${randomBytes(4).toString("hex")}@example.com`
    return sql<{ readonly id: string }>`INSERT INTO users (name, email) VALUES (${name}, ${email}) RETURNING id`.pipe(
      Effect.flatMap((rows) =>
        rows[0] === undefined ? Effect.dieMessage("INSERT returned no row") : Effect.succeed(BigInt(rows[0].id))
      ),
      Effect.orDie
    )
  })

const spansOf = (traceId: string, until: (spans: ReadonlyArray<OtlpReceiver["spans"][number]>) => boolean) =>
  Effect.flatMap(Receiver, (receiver) =>
    pollUntil(
      Effect.sync(() => receiver.spans.filter((s) => s.traceId === traceId)),
      until,
      "10 seconds"
    )
  )

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("tracing across two services", (it) => {
  it.scoped("one trace: the caller's traceparent, A's server span, A's client span, B's server span, SQL below", () =>
    Effect.gen(function* () {
      // A user of its own: one another test read first would be answered from the cache, with no SQL span.
      const userId = yield* freshUser("Tracy")
      const parent = traceparent()
      assert.strictEqual((yield* sayHelloWith(userId, parent.header)).message, "Hello, Tracy!")
      const spans = yield* spansOf(
        parent.traceId,
        (found) =>
          found.some((s) => s.service === "greeter-b" && s.name === "hello_world.Greeter/SayHello") &&
          found.some((s) => s.service === "greeter-a" && s.name === "hello_world.Greeter/SayHello")
      )
      const byId = new Map(spans.map((s) => [s.spanId, s]))
      const serverA = spans.find((s) => s.service === "greeter-a" && s.name === "hello_world.Greeter/SayHello")
      const client = spans.find((s) => s.name === "UpstreamGreeter.sayHello")
      const serverB = spans.find((s) => s.service === "greeter-b" && s.name === "hello_world.Greeter/SayHello")
      assert.strictEqual(serverA?.parentSpanId, parent.spanId, "A continues the caller's trace")
      assert.strictEqual(serverA?.kind, 2, "SERVER")
      assert.deepInclude(serverA?.attributes, {
        "rpc.system": "grpc",
        "rpc.service": "hello_world.Greeter",
        "rpc.method": "SayHello",
        "rpc.grpc.status_code": 0
      })
      assert.strictEqual(client?.kind, 3, "CLIENT")
      assert.strictEqual(byId.get(client?.parentSpanId ?? "")?.name, "Greeter.sayHello")
      assert.strictEqual(serverB?.parentSpanId, client?.spanId, "B's server span is a child of A's client span")
      // Every span of the trace hangs off another span of it, or off the caller's.
      for (const span of spans) {
        assert.isTrue(
          span.parentSpanId === parent.spanId || byId.has(span.parentSpanId),
          `${span.service} ${span.name}`
        )
      }
      for (const name of [
        "Greeter.sayHello",
        "Users.findById",
        "UserCache.getMany",
        "UserRepository.findByIds",
        "sql.execute"
      ]) {
        assert.isTrue(
          spans.some((s) => s.name === name),
          `a ${name} span`
        )
      }
    })
  )

  it.scoped("a failure is recorded on the server span: status ERROR and the gRPC code", () =>
    Effect.gen(function* () {
      const parent = traceparent()
      yield* statusOf(sayHelloWith(999n, parent.header))
      const spans = yield* spansOf(parent.traceId, (found) =>
        found.some((s) => s.service === "greeter-a" && s.name === "hello_world.Greeter/SayHello")
      )
      const server = spans.find((s) => s.service === "greeter-a" && s.name === "hello_world.Greeter/SayHello")
      assert.strictEqual(server?.statusCode, 2, "ERROR")
      assert.strictEqual(server?.attributes["rpc.grpc.status_code"], 5)
    })
  )

  it.scoped("every log line of a request carries its trace_id, span_id and request_id", () =>
    Effect.gen(function* () {
      const parent = traceparent()
      yield* sayHelloWith(2n, parent.header)
      const lines = yield* pollUntil(
        Effect.sync(() => logs.entries.filter((e) => e.request_id === "trace-test-2")),
        (found) => found.some((e) => e.message === "gRPC request completed")
      )
      for (const line of lines) {
        assert.strictEqual(line.trace_id, parent.traceId)
        assert.match(String(line.span_id), /^[0-9a-f]{16}$/)
      }
    })
  )

  it.scoped("spans go as OTLP/HTTP protobuf by default (as the Go service sends), JSON when asked", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver
      yield* sayHelloWith(1n, traceparent().header)
      const spans = yield* pollUntil(
        Effect.sync(() => receiver.spans),
        (all) => all.some((s) => s.service === "greeter-a") && all.some((s) => s.service === "greeter-b"),
        "10 seconds"
      )
      const encodings = (service: string) => [
        ...new Set(spans.filter((s) => s.service === service).map((s) => s.encoding))
      ]
      assert.deepStrictEqual(encodings("greeter-a"), ["protobuf"])
      assert.deepStrictEqual(encodings("greeter-b"), ["json"])
    })
  )

  it.scoped("the request id comes back in the response metadata", () =>
    Effect.gen(function* () {
      const { greeter } = yield* clientsFor((yield* GrpcServer).port)
      const metadata = new Metadata()
      metadata.set("x-request-id", "echo-me-42")
      const received = yield* Effect.async<string>((resume) => {
        const call = greeter.sayHello({ userId: 1n }, metadata, () => {})
        call.on("metadata", (md: Metadata) => resume(Effect.succeed(String(md.get("x-request-id")[0]))))
      })
      assert.strictEqual(received, "echo-me-42")
    })
  )
})
