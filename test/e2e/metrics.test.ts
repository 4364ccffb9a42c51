import { HttpServer } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { status } from "@grpc/grpc-js"
import { Effect, Layer } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import { GreeterService, type SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { UserServiceService } from "../../src/adapters/grpc/generated/users/v1/users.js"
import { clientsFor, statusOf, unary } from "../support/grpc.js"
import { serviceOnHarness } from "../support/service.js"

const Service = serviceOnHarness(Effect.succeed({ METRICS_ENABLE_DEFAULT_METRICS: "true" })).pipe(Layer.orDie)

const scrape = Effect.gen(function* () {
  const server = yield* HttpServer.HttpServer
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`))
  assert.strictEqual(response.status, 200)
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0.0.4/)
  return yield* Effect.promise(() => response.text())
})

/** The value of one sample, `name{labels}`, or 0 when absent. */
const sample = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

/** The sum of every sample of `name` (bare or with labels), or 0 when there is none. */
const total = (text: string, name: string) =>
  text
    .split("\n")
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0)

const SAY_HELLO = 'method="/hello_world.Greeter/SayHello"'

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("metrics", (it) => {
  it.scoped("the Go service's series move by exactly the calls made, labelled with Go code names", () =>
    Effect.gen(function* () {
      const { greeter } = yield* clientsFor((yield* GrpcServer).port)
      const call = (userId: bigint) => unary<SayHelloResponse>((cb) => greeter.sayHello({ userId }, cb))
      const before = yield* scrape
      yield* call(1n)
      yield* call(2n)
      yield* statusOf(call(999n))
      yield* statusOf(call(0n))
      yield* statusOf(call(-5n))
      const after = yield* scrape
      const delta = (series: string) => sample(after, series) - sample(before, series)
      assert.strictEqual(delta(`grpc_requests_total{${SAY_HELLO},status="OK"}`), 2)
      assert.strictEqual(delta(`grpc_requests_total{${SAY_HELLO},status="NotFound"}`), 1)
      assert.strictEqual(delta(`grpc_requests_total{${SAY_HELLO},status="InvalidArgument"}`), 2)
      assert.strictEqual(delta(`grpc_request_duration_seconds_count{${SAY_HELLO}}`), 5)
      assert.strictEqual(delta(`grpc_request_duration_seconds_bucket{le="10",${SAY_HELLO}}`), 5)
      assert.strictEqual(sample(after, `grpc_requests_in_flight{${SAY_HELLO}}`), 0)
      assert.include(after, "# HELP grpc_requests_total ")
      assert.include(after, "# TYPE grpc_request_duration_seconds histogram")
      for (const le of ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]) {
        assert.include(after, `grpc_request_duration_seconds_bucket{le="${le}",${SAY_HELLO}}`)
      }
    })
  )

  it.scoped("also exposes HTTP, cache, loader, SQL, pool, event-loop, build and runtime metrics", () =>
    Effect.gen(function* () {
      const { greeter } = yield* clientsFor((yield* GrpcServer).port)
      const call = (userId: bigint) => unary<SayHelloResponse>((cb) => greeter.sayHello({ userId }, cb))
      const before = yield* scrape
      // This test's own traffic: an id no user has (a cache miss, so a loader batch and a SQL query; not-found is
      // not cached by default), then Alice twice (the second answered from the cache, whatever came before).
      assert.strictEqual((yield* statusOf(call(424_242n))).code, status.NOT_FOUND)
      yield* call(1n)
      yield* call(1n)
      const text = yield* scrape
      const delta = (name: string) => total(text, name) - total(before, name)
      assert.isAtLeast(delta('http_requests_total{method="GET",route="/metrics",status="200"}'), 1)
      assert.isAtLeast(delta("cache_hits_total"), 1)
      assert.isAtLeast(delta("cache_misses_total"), 1)
      assert.strictEqual(delta("user_loader_batch_size_count"), 3)
      assert.isAtLeast(delta("db_query_duration_seconds_count"), 1)
      for (const name of [
        "cache_hits_total",
        "cache_misses_total",
        "user_loader_batch_size_count",
        "db_query_duration_seconds_count",
        'db_pool_connections{state="idle"}',
        "event_loop_lag_seconds",
        "build_info",
        "process_cpu_seconds_total"
      ]) {
        assert.include(text, name)
      }
    })
  )
})

// Its own service, which nothing calls: what Prometheus scrapes from a replica that has had no traffic since it
// started. Every method served has its request series at zero (deploy/prometheus/alerts.yml relies on them:
// GrpcTrafficAbsent needs a flat series to fire, and the error ratio a zero baseline for its server-side codes).
layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("metrics of a service never called", (it) => {
  it.scoped("every gRPC method served has its request series at zero before any call", () =>
    Effect.gen(function* () {
      const text = yield* scrape
      const paths = [...Object.values(GreeterService), ...Object.values(UserServiceService)].map((m) => m.path)
      assert.strictEqual(paths.length, 6)
      for (const path of paths) {
        const method = `method="${path}"`
        for (const code of ["OK", "Unknown", "DeadlineExceeded", "Unavailable", "Internal", "DataLoss"]) {
          assert.include(text, `grpc_requests_total{${method},status="${code}"} 0\n`, `${path} ${code}`)
        }
        assert.include(text, `grpc_request_duration_seconds_count{${method}} 0\n`, path)
        assert.include(text, `grpc_request_duration_seconds_bucket{le="+Inf",${method}} 0\n`, path)
        assert.include(text, `grpc_requests_in_flight{${method}} 0\n`, path)
      }
      // Zeros only, and only for the methods served: no call was counted.
      assert.strictEqual(total(text, "grpc_requests_total"), 0)
      const methods = new Set(
        text
          .split("\n")
          .filter((l) => l.startsWith("grpc_requests_total{"))
          .map((l) => /method="([^"]*)"/.exec(l)?.[1])
      )
      assert.deepStrictEqual([...methods].sort(), [...paths].sort())
    })
  )
})
