import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { HttpServer } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import type { SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { clientsFor, unary } from "../support/grpc.js"
import { pollUntil } from "../support/poll.js"
import { serviceOnHarness } from "../support/service.js"

const root = new URL("../../", import.meta.url).pathname

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** Debian's Prometheus, scraping the service every second with the repository's alert rules loaded. */
class Prometheus extends Context.Tag("test/Prometheus")<Prometheus, { readonly url: string }>() {}

const PrometheusLive = Layer.scoped(
  Prometheus,
  Effect.gen(function* () {
    const server = yield* HttpServer.HttpServer
    const target = server.address._tag === "TcpAddress" ? `127.0.0.1:${server.address.port}` : ""
    const dir = mkdtempSync(join(tmpdir(), "prometheus-"))
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        `rule_files: ["${root}deploy/prometheus/alerts.yml"]`,
        "scrape_configs:",
        "  - job_name: effect-microservice",
        `    static_configs: [{ targets: ["${target}"] }]`
      ].join("\n")
    )
    const port = yield* Effect.promise(freePort)
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(
          "prometheus",
          [
            `--config.file=${join(dir, "prometheus.yml")}`,
            `--storage.tsdb.path=${join(dir, "data")}`,
            `--web.listen-address=127.0.0.1:${port}`,
            "--log.level=warn"
          ],
          { stdio: "ignore" }
        )
      ),
      (child: ChildProcess) => Effect.sync(() => child.kill("SIGKILL"))
    )
    return { url: `http://127.0.0.1:${port}` }
  })
)

const Service = PrometheusLive.pipe(
  Layer.provideMerge(serviceOnHarness(Effect.succeed({ METRICS_ENABLE_DEFAULT_METRICS: "true" })))
)

const QueryResult = Schema.Struct({
  status: Schema.String,
  data: Schema.optional(Schema.Struct({ result: Schema.Array(Schema.Unknown) })),
  error: Schema.optional(Schema.String)
})

const query = (expr: string) =>
  Effect.flatMap(Prometheus, ({ url }) =>
    Effect.tryPromise(() => fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`).then((r) => r.json())).pipe(
      Effect.flatMap(Schema.decodeUnknown(QueryResult)),
      Effect.orElseSucceed(() => ({ status: "unreachable", data: undefined, error: undefined }))
    )
  )

const Vector = Schema.Array(Schema.Struct({ value: Schema.Tuple(Schema.Number, Schema.String) }))

/** How many samples of a series Prometheus holds from the last minute (0 when none yet). */
const sampleCount = (series: string) =>
  Effect.map(query(`count_over_time(${series}[1m])`), (result) => {
    const vector = Schema.decodeUnknownOption(Vector)(result.data?.result)
    return vector._tag === "Some" ? Number(vector.value[0]?.value[1] ?? 0) : 0
  })

type Dashboard = { panels: ReadonlyArray<{ title: string; targets: ReadonlyArray<{ expr: string }> }> }
// This project's dashboard and the Go boilerplate's own (test/fixtures/go-boilerplate: copied unchanged).
const dashboards: ReadonlyArray<Dashboard> = [
  "deploy/grafana/dashboards/effect-microservice.json",
  "test/fixtures/go-boilerplate/dashboard.json"
].map((path) => JSON.parse(readFileSync(`${root}${path}`, "utf8")))

layer(Service, { excludeTestServices: true, timeout: "90 seconds" })(
  "the dashboard against a real Prometheus",
  (it) => {
    it.scoped(
      "every query of both dashboards (this project's, the Go boilerplate's) returns data from the service",
      () =>
        Effect.gen(function* () {
          const { greeter } = yield* clientsFor((yield* GrpcServer).port)
          const call = (userId: bigint) =>
            unary<SayHelloResponse>((cb) => greeter.sayHello({ userId }, cb)).pipe(Effect.ignore)
          // Traffic (hits, misses and errors) while Prometheus scrapes, until it holds 4 samples of the error series:
          // enough for every rate() over a 1 minute window.
          yield* pollUntil(
            Effect.zipRight(
              Effect.forEach([1n, 2n, 999n, 1n], call, { discard: true }),
              sampleCount('grpc_requests_total{status="NotFound"}')
            ),
            (samples) => samples >= 4,
            "30 seconds",
            "200 millis"
          )
          const empty: Array<string> = []
          for (const panel of dashboards.flatMap((dashboard) => dashboard.panels)) {
            for (const target of panel.targets) {
              const expr = target.expr.replaceAll("$__rate_interval", "1m")
              const result = yield* query(expr)
              assert.strictEqual(result.status, "success", `${panel.title}: ${expr}: ${result.error ?? ""}`)
              if ((result.data?.result.length ?? 0) === 0) empty.push(`${panel.title}: ${expr}`)
            }
          }
          assert.deepStrictEqual(empty, [], "queries that returned no data")
          // The alert rules load and evaluate against the live series.
          const rules = yield* Effect.flatMap(Prometheus, ({ url }) =>
            Effect.promise(() => fetch(`${url}/api/v1/rules`).then((r) => r.text()))
          )
          assert.include(rules, "GrpcHighErrorRatio")
        })
    )

    it.scoped("promtool check metrics finds no problem in the exposition", () =>
      Effect.gen(function* () {
        const server = yield* HttpServer.HttpServer
        const port = server.address._tag === "TcpAddress" ? server.address.port : 0
        const scrape = Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()))
        const { greeter } = yield* clientsFor((yield* GrpcServer).port)
        const hello = unary<SayHelloResponse>((cb) => greeter.sayHello({ userId: 1n }, cb)).pipe(Effect.ignore)
        // After a call every family is in the exposition (the cache's included).
        const text = yield* pollUntil(Effect.zipRight(hello, scrape), (t) => t.includes("cache_hits_total"))
        let output = ""
        try {
          output = execFileSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
        } catch (error) {
          assert.fail(
            `promtool check metrics failed (install Debian's prometheus package for promtool): ${String(error)}`
          )
        }
        assert.strictEqual(output.trim(), "")
      })
    )
  }
)
