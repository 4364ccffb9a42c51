// A closed-loop gRPC load process for `npm run bench:overload` (bench/overload.ts): `callers` callers, each making
// SayHello calls one after the other, spread over `connections` HTTP/2 connections, for `ms` milliseconds; then it
// waits for the calls still running (each is bounded by its deadline) and prints one line
// "LOAD RESULTS <json>": per gRPC code, the count and the latencies' p50/p99 (ms), the OK calls answered within
// their deadline (goodput), and a few details of every code other than OK / RESOURCE_EXHAUSTED.
// Usage: node --import tsx bench/overload-load.ts '{"port":5000,"callers":512,"connections":4,"ms":5000,"deadlineMs":1000}'
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js"
import { GreeterClient } from "../src/adapters/grpc/generated/hello_world/hello_world.js"

interface Options {
  readonly port: number
  readonly callers: number
  readonly connections: number
  readonly ms: number
  readonly deadlineMs: number
  readonly userId?: number
}
const options: Options = JSON.parse(process.argv[2] ?? "{}")
const address = `127.0.0.1:${options.port}`
// A local subchannel pool per client: each client is a connection of its own.
const clients = Array.from(
  { length: Math.max(1, options.connections) },
  () => new GreeterClient(address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 })
)
const names = Object.fromEntries(Object.entries(status).map(([name, code]) => [String(code), name]))
const latencies = new Map<number, Array<number>>()
const details = new Map<number, Map<string, number>>()
let withinDeadline = 0
const stopAt = performance.now() + options.ms
const userId = BigInt(options.userId ?? 1)

const call = (client: GreeterClient) =>
  new Promise<void>((resolve) => {
    const started = performance.now()
    const deadline = Date.now() + options.deadlineMs
    client.sayHello({ userId }, new Metadata(), { deadline }, (error: ServiceError | null) => {
      const ms = performance.now() - started
      const code = error ? error.code : status.OK
      const list = latencies.get(code)
      if (list === undefined) latencies.set(code, [ms])
      else list.push(ms)
      if (code === status.OK && ms <= options.deadlineMs) withinDeadline += 1
      if (error && code !== status.RESOURCE_EXHAUSTED) {
        const byDetail = details.get(code) ?? new Map<string, number>()
        // Numbers (durations, ports) vary per call: grouped without them.
        const key = error.details.replace(/[\d.]+/g, "N").slice(0, 120)
        byDetail.set(key, (byDetail.get(key) ?? 0) + 1)
        details.set(code, byDetail)
      }
      resolve()
    })
  })

const caller = async (index: number) => {
  const client = clients[index % clients.length]
  if (client === undefined) return
  while (performance.now() < stopAt) await call(client)
}

const started = performance.now()
await Promise.all(Array.from({ length: options.callers }, (_, i) => caller(i)))
const elapsedMs = performance.now() - started
const percentile = (sorted: Array<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
const codes: Record<string, { count: number; p50Ms: number; p99Ms: number }> = {}
for (const [code, list] of latencies) {
  list.sort((a, b) => a - b)
  codes[names[String(code)] ?? String(code)] = {
    count: list.length,
    p50Ms: Math.round(percentile(list, 0.5) * 100) / 100,
    p99Ms: Math.round(percentile(list, 0.99) * 100) / 100
  }
}
const detailLines: Record<string, Record<string, number>> = {}
for (const [code, byDetail] of details) detailLines[names[String(code)] ?? String(code)] = Object.fromEntries(byDetail)
console.log(
  `LOAD RESULTS ${JSON.stringify({ loadMs: options.ms, elapsedMs: Math.round(elapsedMs), withinDeadline, codes, details: detailLines })}`
)
for (const client of clients) client.close()
