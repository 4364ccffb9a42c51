// What instrumentation costs: SayHello throughput, same machine, same run, for
//   metrics and tracing off | metrics on | metrics + tracing at 1.0 | metrics + tracing at 0.1.
// Run: npx tsx bench/instrumentation.ts [seconds per variant, default 8]. Uses the embedded Postgres and the
// in-process cache unless DATABASE_DSN / REDIS_ADDR are set; SayHello {user_id: 1} is served from the cache.
import { startOtlpReceiver } from "../test/support/OtlpReceiver.js"
import { portOf, startLoadClient, startService, stopAll } from "../test/support/process.js"

const seconds = Number(process.argv[2] ?? 8)
const receiver = await startOtlpReceiver()
const collector = `127.0.0.1:${receiver.port}`
const passThrough = Object.fromEntries(
  ["DATABASE_DSN", "REDIS_ADDR"].flatMap((name) => (process.env[name] ? [[name, process.env[name] ?? ""]] : []))
)

const variants: ReadonlyArray<readonly [string, Record<string, string>]> = [
  ["metrics off, tracing off", { METRICS_ENABLED: "false" }],
  ["metrics on, tracing off", {}],
  ["metrics on, tracing 1.0", { TRACING_COLLECTOR_URL: collector, TRACING_SAMPLE_RATIO: "1" }],
  ["metrics on, tracing 0.1", { TRACING_COLLECTOR_URL: collector, TRACING_SAMPLE_RATIO: "0.1" }]
]

const rows: Array<{ variant: string; rps: number; p50: number; p99: number; errors: number }> = []
for (const [variant, env] of variants) {
  const service = startService({
    GRPC_SERVER_URL: "127.0.0.1:0",
    HTTP_SERVER_URL: "127.0.0.1:0",
    ...passThrough,
    ...env
  })
  const port = portOf(await service.waitForLog((l) => l.message === "gRPC server listening", 30_000))
  // Warm up (JIT, cache filled), then measure.
  const warm = startLoadClient({ port, workers: 16, maxMs: 2000, method: "sayHello", deadlineMs: 5000 })
  await warm.exited
  const load = startLoadClient({ port, workers: 64, maxMs: seconds * 1000, method: "sayHello", deadlineMs: 5000 })
  const line = await load.waitForLog((l) => String(l.message).startsWith("LOAD RESULTS "), (seconds + 30) * 1000)
  const calls: Array<{ start: number; end: number; code: number }> = JSON.parse(String(line.message).slice(13))
  const ok = calls.filter((c) => c.code === 0)
  const latencies = ok.map((c) => c.end - c.start).sort((a, b) => a - b)
  const span = Math.max(...calls.map((c) => c.end)) - Math.min(...calls.map((c) => c.start))
  rows.push({
    variant,
    rps: Math.round((ok.length / span) * 1000),
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    errors: calls.length - ok.length
  })
  service.child.kill("SIGTERM")
  await service.exited
}
stopAll()
await receiver.close()

const base = rows[0]?.rps ?? 1
console.log(`\nSayHello, 64 calls in flight, ${seconds} s each, cache hits (2 cores: client and server share them)`)
console.log("| variant | req/s | vs. off | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|")
for (const r of rows) {
  console.log(`| ${r.variant} | ${r.rps} | ${(r.rps / base).toFixed(2)} | ${r.p50} | ${r.p99} | ${r.errors} |`)
}
console.log(`spans received by the collector: ${receiver.spans.length}`)
