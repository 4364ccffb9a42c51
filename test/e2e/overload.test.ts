// The front doors under overload, and metrics that match what clients saw (issue 14, findings 4 and 5). Figures
// belong to `npm run bench:overload`; the bounds here are generous so a busy machine passes.
import { assert, describe, layer } from "@effect/vitest"
import { credentials, Server, ServerCredentials, status } from "@grpc/grpc-js"
import { Context, Effect, Fiber, Layer } from "effect"
import { afterAll } from "vitest"
import { HealthClient } from "../../src/adapters/grpc/generated/grpc/health/v1/health.js"
import {
  GreeterService,
  type SayHelloRequest,
  type SayHelloResponse
} from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { PrometheusLive } from "../../src/adapters/observability/Prometheus.js"
import { MetricsEndpoint } from "../../src/ports/RequestMetrics.js"
import { clientsFor, sayHelloOnEdge, unary, within } from "../support/grpc.js"
import { pollUntil } from "../support/poll.js"
import { startLoadClient, stopAll } from "../support/process.js"
import { readyServiceProcess, SeededDatabase } from "../support/service.js"

afterAll(stopAll)

const METHOD = "/hello_world.Greeter/SayHello"
const GO_NAMES: Record<number, string> = {
  [status.OK]: "OK",
  [status.CANCELLED]: "Canceled",
  [status.DEADLINE_EXCEEDED]: "DeadlineExceeded",
  [status.RESOURCE_EXHAUSTED]: "ResourceExhausted",
  [status.INTERNAL]: "Internal",
  [status.UNAVAILABLE]: "Unavailable",
  [status.NOT_FOUND]: "NotFound"
}
const goName = (code: number) => GO_NAMES[code] ?? String(code)

/** grpc_requests_total for SayHello, by code, from a Prometheus text page. */
const serverCounts = (text: string): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const match of text.matchAll(/^grpc_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = match[1] ?? ""
    const code = /status="([^"]*)"/.exec(labels)?.[1]
    // Series at zero exist from start (so a no-traffic alert can fire): only codes counted are compared.
    if (labels.includes(`method="${METHOD}"`) && code !== undefined && Number(match[2]) > 0)
      counts[code] = Number(match[2])
  }
  return counts
}
const tally = (codes: ReadonlyArray<number>) => {
  const counts: Record<string, number> = {}
  for (const code of codes) counts[goName(code)] = (counts[goName(code)] ?? 0) + 1
  return counts
}
const sameCounts = (a: Record<string, number>, b: Record<string, number>) =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].every((code) => (a[code] ?? 0) === (b[code] ?? 0))

/** The service as `npm start` runs it, on the suite's database, with `env` on top; ready, and where it listens. */
const serviceProcess = (env: Record<string, string>) => readyServiceProcess({ LOG_LEVEL: "info", ...env }, 30_000)

layer(SeededDatabase, { excludeTestServices: true, timeout: "120 seconds" })("overload", (it) => {
  it.scoped(
    "8× overload: no INTERNAL, shed with RESOURCE_EXHAUSTED, probes keep answering, server counts = client counts",
    () =>
      Effect.gen(function* () {
        const { service, grpcPort, httpPort } = yield* serviceProcess({
          MAX_IN_FLIGHT: "16",
          // Every caller's call reaches the server (by default a connection may hold only a quarter of the limit,
          // and the rest would wait in the client): this test is about what the server does with the excess.
          GRPC_MAX_CONCURRENT_STREAMS: "1000"
        })
        const ready = (text: string) => (line: Record<string, unknown>) => line.message === text
        const metricsText = Effect.promise(() =>
          fetch(`http://127.0.0.1:${httpPort}/metrics`).then((response) => response.text())
        )

        // 128 closed-loop callers (8× MAX_IN_FLIGHT) from another process, for 4 s.
        const load = startLoadClient({
          port: grpcPort,
          workers: 128,
          maxMs: 4000,
          method: "sayHello",
          deadlineMs: 2000
        })
        yield* Effect.promise(() => load.waitForLog(ready("LOAD STARTED"), 20_000))

        // Probes while the load runs: /livez and grpc.health.v1, one after the other, each bounded.
        const health = yield* Effect.acquireRelease(
          Effect.sync(() => new HealthClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure())),
          (client) => Effect.sync(() => client.close())
        )
        const probeMs: Array<{ readonly probe: string; readonly ms: number; readonly ok: boolean }> = []
        const timed = (probe: string, run: () => Promise<boolean>) =>
          Effect.promise(async () => {
            const started = performance.now()
            const ok = await run().catch(() => false)
            probeMs.push({ probe, ms: performance.now() - started, ok })
          })
        const livez = () =>
          fetch(`http://127.0.0.1:${httpPort}/livez`, { signal: AbortSignal.timeout(5000) }).then(
            (r) => r.status === 200
          )
        const check = () =>
          new Promise<boolean>((resolve) =>
            health.check({ service: "" }, ...within(5000), (error, response) =>
              resolve(error === null && response.status === 1)
            )
          )
        const loadDone = Effect.promise(() =>
          load.waitForLog((line) => String(line.message).startsWith("LOAD RESULTS "), 30_000)
        )
        const resultLine = yield* Effect.raceFirst(
          loadDone,
          Effect.forever(
            Effect.zipRight(
              Effect.zipRight(timed("livez", livez), timed("grpc health", check)),
              Effect.sleep("100 millis")
            )
          )
        )
        const calls: ReadonlyArray<{ start: number; end: number; code: number }> = JSON.parse(
          String(resultLine.message).slice("LOAD RESULTS ".length)
        )
        const client = tally(calls.map((c) => c.code))
        // The server records a call as it answers it: poll (bounded) until the counts settle.
        const server = yield* pollUntil(
          Effect.map(metricsText, serverCounts),
          (counts) => sameCounts(counts, client),
          "5 seconds",
          "100 millis"
        ).pipe(Effect.catchAll(() => Effect.map(metricsText, serverCounts)))
        const shedMs = calls
          .filter((c) => c.code === status.RESOURCE_EXHAUSTED)
          .map((c) => c.end - c.start)
          .sort((a, b) => a - b)
        const worst = (probe: string) => Math.max(0, ...probeMs.filter((p) => p.probe === probe).map((p) => p.ms))
        console.log(
          `[measure] 8× overload (MAX_IN_FLIGHT=16, 128 callers, 4 s): client ${JSON.stringify(client)}; server ${JSON.stringify(server)}; shed p50 ${shedMs[Math.floor(shedMs.length / 2)] ?? "-"} ms; probes ${probeMs.length}, worst /livez ${worst("livez").toFixed(0)} ms, worst grpc health ${worst("grpc health").toFixed(0)} ms`
        )
        assert.strictEqual(client.Internal ?? 0, 0, "no call ends INTERNAL")
        assert.isAbove(client.ResourceExhausted ?? 0, 0, "calls beyond the limit are shed")
        assert.isAbove(client.OK ?? 0, 0, "calls within the limit are served")
        assert.isAbove(probeMs.filter((p) => p.probe === "livez").length, 3)
        assert.isAbove(probeMs.filter((p) => p.probe === "grpc health").length, 3)
        assert.isTrue(
          probeMs.every((p) => p.ok),
          "every probe answered"
        )
        assert.isBelow(worst("livez"), 2000)
        assert.isBelow(worst("grpc health"), 2000)
        assert.deepStrictEqual(server, client, "server-side counts per code = client-side counts")
        // A shed call writes no line of its own: one summary line at most every 10 s.
        const shedLines = service.logs.filter((line) => line.code === "RESOURCE_EXHAUSTED")
        assert.strictEqual(shedLines.length, 0, "no log line per shed call")
        const summary = service.logs.find((line) => line.message === "calls shed: over the admission limit")
        assert.isAbove(Number(summary?.shed ?? 0), 0, "a summary line counts the shed calls")
      }),
    // Two processes start (the service under tsx, the load): generous on a busy machine.
    120_000
  )

  it.scoped(
    "by default one connection holds a quarter of MAX_IN_FLIGHT: 8× callers on it wait in the client, none refused",
    () =>
      Effect.gen(function* () {
        const { grpcPort } = yield* serviceProcess({ MAX_IN_FLIGHT: "64" })
        // 512 closed-loop callers on one channel (one connection), for 3 s; deadlines long enough for a busy machine.
        const load = startLoadClient({
          port: grpcPort,
          workers: 512,
          maxMs: 3000,
          method: "sayHello",
          deadlineMs: 20_000
        })
        const resultLine = yield* Effect.promise(() =>
          load.waitForLog((line) => String(line.message).startsWith("LOAD RESULTS "), 60_000)
        )
        const calls: ReadonlyArray<{ code: number }> = JSON.parse(
          String(resultLine.message).slice("LOAD RESULTS ".length)
        )
        const client = tally(calls.map((c) => c.code))
        console.log(`[measure] 512 callers on one connection, MAX_IN_FLIGHT=64 (16 streams): ${JSON.stringify(client)}`)
        assert.deepStrictEqual(Object.keys(client), ["OK"], "every call served, none refused")
      }),
    120_000
  )
})

// ---------------------------------------------------------------- deadline truth, on the gRPC edge alone

type Handle = (request: SayHelloRequest) => Effect.Effect<SayHelloResponse, never>

class EdgeServer extends Context.Tag("test/EdgeServer")<
  EdgeServer,
  { readonly port: number; readonly handler: { current: Handle }; readonly metrics: Effect.Effect<string> }
>() {}

const reply: SayHelloResponse = { message: "Hello, Alice!", user: { id: 1n, name: "Alice", email: "a@example.com" } }

/** A Greeter server on the real gRPC edge (unaryHandler) with the real Prometheus metrics. */
const EdgeServerLive = Layer.scoped(
  EdgeServer,
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const endpoint = yield* MetricsEndpoint
    const handler: { current: Handle } = { current: () => Effect.succeed(reply) }
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
    return { port, handler, metrics: endpoint.render }
  })
).pipe(Layer.provide(PrometheusLive({ defaultMetrics: false, version: "test", commit: "test" })))

describe("deadline truth", () => {
  layer(EdgeServerLive, { excludeTestServices: true, timeout: "60 seconds" })("gRPC edge", (it) => {
    it.scoped(
      "an answer produced after the caller's deadline is counted as the client saw it (DEADLINE_EXCEEDED), a cancelled call as CANCELLED",
      () =>
        Effect.gen(function* () {
          const { port, handler, metrics } = yield* EdgeServer
          const { greeter } = yield* clientsFor(port)
          const before = serverCounts(yield* metrics)
          // The answer is produced in one long turn of the event loop (a CPU-bound step, or a process starved by
          // other work) that ends 250 ms into a call whose deadline is 150 ms: no timer can run before it ends, so
          // the answer is ready when the client has given up.
          const blockFor = (ms: number) => {
            const until = Date.now() + ms
            while (Date.now() < until) {
              // busy: the event loop is held
            }
          }
          handler.current = () =>
            Effect.sync(() => {
              blockFor(250)
              return reply
            })
          const codeOf = (ms: number) =>
            unary<SayHelloResponse>((cb) => greeter.sayHello({ userId: 1n }, ...within(ms), cb)).pipe(
              Effect.match({ onFailure: (error) => error.code, onSuccess: () => status.OK })
            )
          const late = [yield* codeOf(150), yield* codeOf(150), yield* codeOf(150)]
          // A step that cannot be interrupted (a commit, a write already sent) and ends after the deadline.
          handler.current = () => Effect.uninterruptible(Effect.as(Effect.sleep("250 millis"), reply))
          late.push(yield* codeOf(150))
          // In time: OK.
          const inTime = yield* codeOf(2000)
          // Cancelled by the client while the answer is being produced.
          const cancelled = yield* Effect.fork(
            unary<SayHelloResponse>((cb) => greeter.sayHello({ userId: 1n }, ...within(5000), cb))
          )
          yield* Effect.sleep("50 millis")
          yield* Fiber.interrupt(cancelled)
          const client = tally([...late, inTime, status.CANCELLED])
          const counted = yield* pollUntil(
            Effect.map(metrics, (text) => {
              const after = serverCounts(text)
              const delta: Record<string, number> = {}
              for (const [code, n] of Object.entries(after))
                if (n - (before[code] ?? 0) > 0) delta[code] = n - (before[code] ?? 0)
              return delta
            }),
            (delta) => Object.values(delta).reduce((sum, n) => sum + n, 0) >= 6,
            "5 seconds"
          )
          console.log(`[measure] deadline truth: client ${JSON.stringify(client)}; server ${JSON.stringify(counted)}`)
          assert.deepStrictEqual(
            late,
            Array.from({ length: 4 }, () => status.DEADLINE_EXCEEDED)
          )
          assert.strictEqual(inTime, status.OK)
          assert.deepStrictEqual(counted, client)
        })
    )
  })
})
