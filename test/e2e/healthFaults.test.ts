import { HttpServer } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { credentials, Metadata, status } from "@grpc/grpc-js"
import { ConfigProvider, Context, Effect, Layer, Logger, LogLevel, Redacted, Schema } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import {
  type HealthCheckResponse,
  HealthClient,
  HealthCheckResponse_ServingStatus as Serving
} from "../../src/adapters/grpc/generated/grpc/health/v1/health.js"
import { loadMigrations, runMigrations } from "../../src/adapters/postgres/Migrations.js"
import { ServiceLive } from "../../src/main/Service.js"
import { clientsFor, unary, within } from "../support/grpc.js"
import { captureLogs } from "../support/logs.js"
import { pollUntil } from "../support/poll.js"
import { type RedisServer, startRedisServer } from "../support/RedisServer.js"
import { PostgresProxy, serviceBehindPostgresProxy, serviceOnHarness } from "../support/service.js"
import { DatabaseClient, FreshDatabaseUrl, HarnessDatabaseUrl } from "../support/TestDatabase.js"

// Every probe must answer within HEALTH_CHECK_TIMEOUT plus a small margin, whatever a dependency does. The bound
// asserted is generous (the machine may be loaded); the figures measured are printed.
const CHECK_TIMEOUT_MS = 1000
const PROBE_BOUND_MS = 2500

const ProbeBody = Schema.Struct({
  status: Schema.optional(Schema.String),
  details: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})

/** One HTTP probe: status, body and how long it took. Bounded, so a hung probe fails the test instead of stalling. */
const http = (path: string) =>
  Effect.gen(function* () {
    const server = yield* HttpServer.HttpServer
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    const started = performance.now()
    const response = yield* Effect.promise(() =>
      fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(30_000) })
    )
    const body = yield* Schema.decodeUnknown(ProbeBody)(yield* Effect.promise(() => response.json())).pipe(Effect.orDie)
    return { status: response.status, body, ms: performance.now() - started }
  })
const readyz = http("/readyz")

const healthClient = Effect.acquireRelease(
  Effect.map(GrpcServer, (server) => new HealthClient(`127.0.0.1:${server.port}`, credentials.createInsecure())),
  (client) => Effect.sync(() => client.close())
)

/** grpc.health.v1 Check for the whole server, timed; the deadline is far beyond the bound, so it measures. */
const grpcCheck = Effect.gen(function* () {
  const client = yield* healthClient
  const started = performance.now()
  const response = yield* unary<HealthCheckResponse>((cb) =>
    client.check({ service: "" }, new Metadata(), { deadline: Date.now() + 30_000 }, cb)
  ).pipe(Effect.orDie)
  return { status: response.status, ms: performance.now() - started }
})

/** grpc.health.v1 Watch: how long until its first status. */
const grpcWatchFirst = Effect.gen(function* () {
  const client = yield* healthClient
  const started = performance.now()
  const watch = client.watch({ service: "" })
  yield* Effect.addFinalizer(() => Effect.sync(() => watch.cancel()))
  const status = yield* Effect.async<Serving>((resume) => {
    watch.once("data", (message: HealthCheckResponse) => resume(Effect.succeed(message.status)))
    watch.on("error", () => {})
  }).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("Watch sent nothing") }))
  return { status, ms: performance.now() - started }
})

// ---------------------------------------------------------------------------------------------------------------
// Postgres frozen, then refusing connections, behind a fault proxy. DATABASE_CONNECT_TIMEOUT is 5 s on purpose (a
// common production value): cancelling a query on a frozen server waits for a new connection to it that long, and
// a probe must not.

const PostgresService = serviceBehindPostgresProxy({
  DATABASE_CONNECT_TIMEOUT: "5s",
  HEALTH_CHECK_TIMEOUT: `${CHECK_TIMEOUT_MS}ms`,
  HEALTH_CACHE_TTL: "1s"
})

layer(PostgresService, { excludeTestServices: true, timeout: "120 seconds" })("health faults: Postgres", (it) => {
  it.scoped(
    "Postgres frozen: /readyz, /startupz and grpc.health.v1 Check and Watch answer within the check timeout, naming it",
    () =>
      Effect.gen(function* () {
        const proxy = yield* PostgresProxy
        // Forwarding again when the test ends, passed or failed.
        yield* Effect.addFinalizer(() => Effect.sync(() => proxy.setMode("forward")))
        yield* pollUntil(readyz, (r) => r.status === 200, "15 seconds", "50 millis")
        proxy.setMode("freeze")
        const times: Array<number> = []
        const down = yield* pollUntil(
          Effect.tap(readyz, (r) => times.push(r.ms)),
          (r) => r.status === 503,
          "60 seconds",
          "50 millis"
        )
        assert.include(down.body.details?.database ?? "", "no answer within 1s")
        // Concurrent probes, a few rounds, so that some arrive while a run of the checks is in progress.
        for (let round = 0; round < 3; round++) {
          const [probes, startupz, check, watch] = yield* Effect.all(
            [
              Effect.all(
                Array.from({ length: 5 }, () => readyz),
                { concurrency: "unbounded" }
              ),
              http("/startupz"),
              grpcCheck,
              grpcWatchFirst
            ],
            { concurrency: "unbounded" }
          )
          for (const probe of probes) {
            assert.strictEqual(probe.status, 503)
            times.push(probe.ms)
          }
          assert.strictEqual(startupz.status, 200)
          assert.strictEqual(check.status, Serving.NOT_SERVING)
          assert.strictEqual(watch.status, Serving.NOT_SERVING)
          times.push(startupz.ms, check.ms, watch.ms)
        }
        const slowest = Math.max(...times)
        console.log(
          `[measure] Postgres frozen, HEALTH_CHECK_TIMEOUT=1s: ${times.length} probes (/readyz, /startupz, gRPC Check and Watch), slowest ${slowest.toFixed(0)} ms, first 503 in ${down.ms.toFixed(0)} ms; detail: ${down.body.details?.database}`
        )
        assert.isBelow(slowest, PROBE_BOUND_MS)

        proxy.setMode("forward")
        const backAt = performance.now()
        yield* pollUntil(readyz, (r) => r.status === 200, "20 seconds", "50 millis")
        console.log(`[measure] Postgres thawed: ready again ${(performance.now() - backAt).toFixed(0)} ms later`)
      }),
    { timeout: 120_000 }
  )
})

// Its own service and proxy (not the suite above's, whatever the order): it closes the proxy for good, so its port
// refuses connections as a stopped server's does.
layer(PostgresService, { excludeTestServices: true, timeout: "120 seconds" })(
  "health faults: Postgres refused",
  (it) => {
    it.scoped("Postgres refusing connections: the database detail names the real cause (ECONNREFUSED)", () =>
      Effect.gen(function* () {
        const proxy = yield* PostgresProxy
        yield* pollUntil(readyz, (r) => r.status === 200, "20 seconds", "50 millis")
        yield* Effect.promise(proxy.close)
        const down = yield* pollUntil(
          readyz,
          (r) => r.status === 503 && (r.body.details?.database ?? "").includes("ECONNREFUSED"),
          "15 seconds",
          "50 millis"
        ).pipe(
          Effect.catchAll((error) =>
            Effect.flatMap(readyz, (last) => Effect.dieMessage(`${error.message}; last: ${JSON.stringify(last.body)}`))
          )
        )
        console.log(`[measure] Postgres refused: database detail "${down.body.details?.database}"`)
        assert.match(down.body.details?.database ?? "", /connect ECONNREFUSED 127\.0\.0\.1:\d+/)
        assert.notInclude(down.body.details?.database ?? "", "unknown error")
      })
    )
  }
)

// ---------------------------------------------------------------------------------------------------------------
// Redis down: a redis-server of the suite's own, stopped.

class OwnRedis extends Context.Tag("test/healthFaults/OwnRedis")<OwnRedis, RedisServer>() {}

const OwnRedisLive = Layer.scoped(
  OwnRedis,
  Effect.acquireRelease(Effect.promise(startRedisServer), (server) => Effect.promise(server.close))
)

const RedisService = serviceOnHarness(
  Effect.map(OwnRedis, (server) => ({
    REDIS_ADDR: `127.0.0.1:${server.port}`,
    HEALTH_CHECK_TIMEOUT: `${CHECK_TIMEOUT_MS}ms`,
    HEALTH_CACHE_TTL: "100ms"
  }))
).pipe(Layer.provideMerge(OwnRedisLive))

layer(RedisService, { excludeTestServices: true, timeout: "60 seconds" })("health faults: Redis", (it) => {
  it.scoped("Redis stopped: degraded, and the cache detail names the real cause, not an unknown error", () =>
    Effect.gen(function* () {
      const redis = yield* OwnRedis
      yield* pollUntil(readyz, (r) => r.body.status === "ready", "15 seconds", "50 millis")
      yield* Effect.promise(redis.stop)
      const degraded = yield* pollUntil(readyz, (r) => r.body.status === "degraded", "15 seconds", "50 millis")
      const cache = degraded.body.details?.cache ?? ""
      console.log(`[measure] Redis stopped: cache detail "${cache}" (/readyz in ${degraded.ms.toFixed(0)} ms)`)
      assert.strictEqual(degraded.status, 200)
      assert.notInclude(cache.toLowerCase(), "unknown error")
      assert.match(cache, /ECONNREFUSED|connect/i)
      assert.isBelow(degraded.ms, PROBE_BOUND_MS)
      yield* Effect.promise(redis.start)
      yield* pollUntil(readyz, (r) => r.body.status === "ready", "15 seconds", "50 millis")
    })
  )
})

// ---------------------------------------------------------------------------------------------------------------
// A database whose migrations were never applied (DATABASE_MIGRATE=false): the service starts, is not ready, and
// becomes ready once the migrations are applied.

/** The test's own connection to the fresh, empty database (not migrated). */
const UnmigratedClient = DatabaseClient({ embedded: 1, server: 2 })

const unmigratedLogs = captureLogs()

const UnmigratedService = Layer.unwrapEffect(
  Effect.gen(function* () {
    const { url, source } = yield* FreshDatabaseUrl
    const settings = {
      GRPC_SERVER_URL: "127.0.0.1:0",
      HTTP_SERVER_URL: "127.0.0.1:0",
      DATABASE_DSN: Redacted.value(url),
      DATABASE_MIGRATE: "false",
      DATABASE_POOL_MAX_OPEN: source === "embedded" ? "2" : "5",
      HEALTH_CACHE_TTL: "100ms"
    }
    return ServiceLive.pipe(
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(settings))))),
      Layer.provide(unmigratedLogs.layer)
    )
  }).pipe(Effect.orDie)
).pipe(Layer.provideMerge(UnmigratedClient), Layer.provideMerge(HarnessDatabaseUrl))

layer(UnmigratedService, { excludeTestServices: true, timeout: "60 seconds" })("health faults: schema", (it) => {
  it.scoped("migrations never applied: unready with 'schema at 0, needs N'; ready once they are", () =>
    Effect.gen(function* () {
      const needed = Math.max(...(yield* loadMigrations).map(([id]) => id))
      const unready = yield* pollUntil(
        readyz,
        (r) => r.body.details?.database !== undefined && !r.body.details.database.startsWith("not connected"),
        "15 seconds",
        "50 millis"
      )
      assert.strictEqual(unready.status, 503)
      assert.strictEqual(unready.body.status, "unready")
      assert.strictEqual(
        unready.body.details?.database,
        `schema at 0, needs ${needed} (run npm run db:migrate, or DATABASE_MIGRATE=true)`
      )
      assert.strictEqual((yield* http("/startupz")).status, 200)
      // A call meanwhile: UNAVAILABLE (not a client error, not INTERNAL), and the log line says why.
      const { greeter } = yield* clientsFor((yield* GrpcServer).port)
      const call = yield* Effect.flip(unary((cb) => greeter.sayHello({ userId: 1n }, ...within(5000), cb)))
      assert.strictEqual(call.code, status.UNAVAILABLE)
      const line = yield* pollUntil(
        Effect.sync(() => unmigratedLogs.entries.find((e) => e.message === "gRPC request failed")),
        (entry) => entry !== undefined,
        "5 seconds"
      )
      assert.include(String(line?.error), 'relation "users" does not exist')

      yield* runMigrations.pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
      const migratedAt = performance.now()
      const ready = yield* pollUntil(readyz, (r) => r.status === 200, "10 seconds", "50 millis")
      console.log(`[measure] schema migrated: ready ${(performance.now() - migratedAt).toFixed(0)} ms later`)
      assert.strictEqual(ready.body.details?.database, "ok")
    })
  )
})
