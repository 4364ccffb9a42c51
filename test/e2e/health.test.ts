import { HttpServer } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { credentials, Metadata, status } from "@grpc/grpc-js"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import {
  type HealthCheckResponse,
  HealthClient,
  HealthCheckResponse_ServingStatus as Serving
} from "../../src/adapters/grpc/generated/grpc/health/v1/health.js"
import { type FaultProxy, startFaultProxy } from "../support/FaultProxy.js"
import { statusOf, unary } from "../support/grpc.js"
import { pollUntil } from "../support/poll.js"
import { SeededDatabase, serviceOnHarness } from "../support/service.js"
import { FreshDatabaseUrl } from "../support/TestDatabase.js"
import { harnessRedisUrl } from "../support/TestRedis.js"

/** Proxies in front of the harness Postgres and Redis, so the test can take them down and up. */
class Proxies extends Context.Tag("test/Proxies")<
  Proxies,
  { readonly postgres: FaultProxy; readonly redis: FaultProxy }
>() {}

const ProxiesLive = Layer.scoped(
  Proxies,
  Effect.gen(function* () {
    const { url } = yield* FreshDatabaseUrl
    const database = new URL(Redacted.value(url))
    const redis = new URL(yield* harnessRedisUrl)
    const proxy = (host: string, port: number) =>
      Effect.acquireRelease(
        Effect.promise(() => startFaultProxy({ host, port })),
        (p) => Effect.promise(p.close)
      )
    return {
      postgres: yield* proxy(database.hostname, Number(database.port || 5432)),
      redis: yield* proxy(redis.hostname, Number(redis.port || 6379))
    }
  })
)

// The service reaches Postgres and Redis only through the proxies; `env` on top.
const serviceBehindProxies = (env: Record<string, string> = {}) =>
  serviceOnHarness(
    Effect.gen(function* () {
      const { postgres, redis } = yield* Proxies
      const { url } = yield* FreshDatabaseUrl
      const dsn = new URL(Redacted.value(url))
      dsn.host = `127.0.0.1:${postgres.port}`
      return {
        DATABASE_DSN: dsn.toString(),
        REDIS_ADDR: `127.0.0.1:${redis.port}`,
        REDIS_KEY_PREFIX: `test:${process.pid}:health:`,
        HEALTH_CACHE_TTL: "100ms",
        DATABASE_CONNECT_TIMEOUT: "1s",
        ...env
      }
    })
  ).pipe(Layer.provideMerge(ProxiesLive.pipe(Layer.provide(SeededDatabase))))

const Service = serviceBehindProxies()

const ProbeBody = Schema.Struct({
  status: Schema.optional(Schema.String),
  details: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  _tag: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String)
})

const http = (path: string, method = "GET") =>
  Effect.gen(function* () {
    const server = yield* HttpServer.HttpServer
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}${path}`, { method }))
    const body = yield* Schema.decodeUnknown(ProbeBody)(yield* Effect.promise(() => response.json())).pipe(Effect.orDie)
    return { status: response.status, body }
  })

const healthClient = Effect.acquireRelease(
  Effect.map(GrpcServer, (server) => new HealthClient(`127.0.0.1:${server.port}`, credentials.createInsecure())),
  (client) => Effect.sync(() => client.close())
)

const check = (service: string) =>
  Effect.flatMap(healthClient, (client) =>
    unary<HealthCheckResponse>((cb) => client.check({ service }, new Metadata(), { deadline: Date.now() + 2000 }, cb))
  )

const readyz = http("/readyz")

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("health", (it) => {
  it.scoped("probes: /livez, /startupz and /readyz with every check; JSON 404 and 405", () =>
    Effect.gen(function* () {
      // Ready with every check passing. Polled: on a machine with both cores busy a 50 ms Redis PING can time out
      // now and then (degraded, still 200), and the next check passes.
      const ready = yield* pollUntil(readyz, (r) => r.status === 200 && r.body.status === "ready", "20 seconds")
      assert.deepStrictEqual(yield* http("/livez"), { status: 200, body: { status: "ok" } })
      assert.deepStrictEqual(yield* http("/startupz"), { status: 200, body: { status: "started" } })
      assert.deepStrictEqual(ready, {
        status: 200,
        body: { status: "ready", details: { audit_log: "ok", cache: "ok", database: "ok", database_breaker: "ok" } }
      })
      assert.deepStrictEqual(yield* http("/nope"), {
        status: 404,
        body: { _tag: "NotFound", message: "no route for /nope" }
      })
      assert.deepStrictEqual(yield* http("/readyz", "POST"), {
        status: 405,
        body: { _tag: "MethodNotAllowed", message: "POST is not allowed on /readyz" }
      })
    })
  )

  it.scoped("gRPC health: SERVING for the server and each service; NOT_FOUND for an unknown one", () =>
    Effect.gen(function* () {
      for (const service of ["", "hello_world.Greeter", "users.v1.UserService"]) {
        assert.strictEqual((yield* check(service)).status, Serving.SERVING, service)
      }
      assert.strictEqual((yield* statusOf(check("no.such.Service"))).code, status.NOT_FOUND)
    })
  )

  it.scoped("readiness follows the database down (503, NOT_SERVING, Watch sees it) and up again", () =>
    Effect.gen(function* () {
      const { postgres } = yield* Proxies
      const client = yield* healthClient
      const seen: Array<Serving> = []
      const watch = client.watch({ service: "hello_world.Greeter" })
      watch.on("data", (message: HealthCheckResponse) => seen.push(message.status))
      watch.on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => watch.cancel()))
      yield* pollUntil(
        Effect.sync(() => seen),
        (s) => s.at(-1) === Serving.SERVING
      )

      postgres.setMode("refuse")
      // Whatever happens below, the next tests get their database back.
      yield* Effect.addFinalizer(() => Effect.sync(() => postgres.setMode("forward")))
      // Unready for the database alone: polled until the cache check also reads ok, since on a machine with both
      // cores busy a 50 ms Redis PING can time out now and then (that check is the cache's own, not this test's).
      const down = yield* pollUntil(readyz, (r) => r.status === 503 && r.body.details?.cache === "ok")
      assert.strictEqual(down.body.status, "unready")
      assert.notStrictEqual(down.body.details?.database, "ok")
      assert.strictEqual(down.body.details?.cache, "ok")
      assert.strictEqual((yield* check("")).status, Serving.NOT_SERVING)
      yield* pollUntil(
        Effect.sync(() => seen),
        (s) => s.at(-1) === Serving.NOT_SERVING
      )

      postgres.setMode("forward")
      yield* pollUntil(readyz, (r) => r.status === 200, "5 seconds")
      yield* pollUntil(
        Effect.sync(() => seen),
        (s) => s.at(-1) === Serving.SERVING
      )
      assert.deepStrictEqual(seen, [Serving.SERVING, Serving.NOT_SERVING, Serving.SERVING])
    })
  )

  it.scoped("with Redis down the service is degraded, not unready, and still serving", () =>
    Effect.gen(function* () {
      const { redis } = yield* Proxies
      redis.setMode("refuse")
      yield* Effect.addFinalizer(() => Effect.sync(() => redis.setMode("forward")))
      const degraded = yield* pollUntil(readyz, (r) => r.body.status === "degraded")
      assert.strictEqual(degraded.status, 200)
      assert.strictEqual(degraded.body.details?.database, "ok")
      assert.notStrictEqual(degraded.body.details?.cache, "ok")
      assert.strictEqual((yield* check("")).status, Serving.SERVING)
      redis.setMode("forward")
      yield* pollUntil(readyz, (r) => r.body.status === "ready", "5 seconds")
    })
  )

  it.scoped("Watch on an unknown service answers SERVICE_UNKNOWN and stays open", () =>
    Effect.gen(function* () {
      const client = yield* healthClient
      const seen: Array<Serving> = []
      let ended = false
      const watch = client.watch({ service: "no.such.Service" })
      watch.on("data", (message: HealthCheckResponse) => seen.push(message.status))
      watch.on("end", () => {
        ended = true
      })
      watch.on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => watch.cancel()))
      yield* pollUntil(
        Effect.sync(() => seen),
        (s) => s.length === 1
      )
      assert.deepStrictEqual(seen, [Serving.SERVICE_UNKNOWN])
      assert.isFalse(ended)
    })
  )
})

// The Go service answers /readyz 503 when Redis is down (its readiness fails on any dependency); this one stays
// 200 "degraded" by default, and HEALTH_CRITICAL=database,cache is the one setting that gives the Go behaviour
// (docs/migrating-from-go.md#readiness-and-health_critical).
layer(serviceBehindProxies({ HEALTH_CRITICAL: "database,cache" }), {
  excludeTestServices: true,
  timeout: "60 seconds"
})("health with HEALTH_CRITICAL=database,cache (the Go service's readiness)", (it) => {
  it.scoped("with Redis down /readyz answers 503 unready and gRPC NOT_SERVING; ready again once it is back", () =>
    Effect.gen(function* () {
      const { redis } = yield* Proxies
      yield* pollUntil(readyz, (r) => r.status === 200 && r.body.status === "ready", "20 seconds")
      redis.setMode("refuse")
      yield* Effect.addFinalizer(() => Effect.sync(() => redis.setMode("forward")))
      const down = yield* pollUntil(readyz, (r) => r.status !== 200)
      assert.strictEqual(down.status, 503)
      assert.strictEqual(down.body.status, "unready")
      assert.strictEqual(down.body.details?.database, "ok")
      assert.notStrictEqual(down.body.details?.cache, "ok")
      assert.strictEqual((yield* check("")).status, Serving.NOT_SERVING)
      redis.setMode("forward")
      const back = yield* pollUntil(readyz, (r) => r.status === 200, "10 seconds")
      assert.strictEqual(back.body.status, "ready")
      assert.strictEqual((yield* check("")).status, Serving.SERVING)
    })
  )
})
