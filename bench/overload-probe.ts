// A light probe process for `npm run bench:overload` (bench/overload.ts): at a fixed rate, GET /livez, /readyz and
// /metrics on the HTTP port, grpc.health.v1.Health/Check and one SayHello (user 1, with the run's deadline) on the
// gRPC port (a connection of their own), for `ms` milliseconds; prints one line "PROBE RESULTS <json>" with each
// probe's count, failures, p50, p99 and max (ms), and the SayHello samples per gRPC code ("calls"). The samples
// are what a caller sees of an overloaded server when the caller itself is not overloaded (the load generator's
// own latencies include its queueing).
// A probe that takes longer than 5 s counts as failed with 5000 ms.
// Usage: node --import tsx bench/overload-probe.ts '{"grpcPort":5000,"httpPort":4000,"ms":5000,"everyMs":50}'
import { request } from "node:http"
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js"
import { HealthClient } from "../src/adapters/grpc/generated/grpc/health/v1/health.js"
import { GreeterClient } from "../src/adapters/grpc/generated/hello_world/hello_world.js"

const options: {
  grpcPort: number
  httpPort: number
  ms: number
  everyMs: number
  deadlineMs?: number
  untilEpochMs?: number
} = JSON.parse(process.argv[2] ?? "{}")
const greeter = new GreeterClient(`127.0.0.1:${options.grpcPort}`, credentials.createInsecure(), {
  "grpc.use_local_subchannel_pool": 1
})
const codeNames = Object.fromEntries(Object.entries(status).map(([name, code]) => [String(code), name]))
const calls = new Map<string, Array<number>>()
// The warm-up's SayHello calls by code: not in the figures, but the server counted them.
const warmup: Record<string, number> = {}
const sayHello = () => {
  const started = performance.now()
  return new Promise<void>((resolve) =>
    greeter.sayHello(
      { userId: 1n },
      new Metadata(),
      { deadline: Date.now() + (options.deadlineMs ?? 1000) },
      (error: ServiceError | null) => {
        const code = codeNames[String(error ? error.code : status.OK)] ?? "UNKNOWN"
        if (recording) {
          const list = calls.get(code) ?? []
          list.push(performance.now() - started)
          calls.set(code, list)
        } else warmup[code] = (warmup[code] ?? 0) + 1
        resolve()
      }
    )
  )
}
const health = new HealthClient(`127.0.0.1:${options.grpcPort}`, credentials.createInsecure(), {
  "grpc.use_local_subchannel_pool": 1
})
const TIMEOUT_MS = 5000

/** One GET on a fresh connection (as a kubelet probe makes it), body read to the end. */
const get = (path: string) =>
  new Promise<boolean>((resolve) => {
    const req = request(
      { host: "127.0.0.1", port: options.httpPort, path, agent: false, timeout: TIMEOUT_MS },
      (response) => {
        response.resume()
        response.on("end", () => resolve(response.statusCode === 200))
        response.on("error", () => resolve(false))
      }
    )
    req.on("timeout", () => req.destroy())
    req.on("error", () => resolve(false))
    req.end()
  })
const check = () =>
  new Promise<boolean>((resolve) =>
    health.check({ service: "" }, new Metadata(), { deadline: Date.now() + TIMEOUT_MS }, (error, response) =>
      resolve(error === null && response.status === 1)
    )
  )

const probes: Record<string, () => Promise<boolean>> = {
  livez: () => get("/livez"),
  readyz: () => get("/readyz"),
  metrics: () => get("/metrics"),
  grpcHealth: check
}
const samples: Record<string, { ms: Array<number>; failed: number }> = {}
for (const name of Object.keys(probes)) samples[name] = { ms: [], failed: 0 }
const pending = new Set<Promise<void>>()

const fire = () => {
  const call = sayHello()
  pending.add(call)
  void call.then(() => pending.delete(call))
  for (const [name, probe] of Object.entries(probes)) {
    const started = performance.now()
    const done = probe().then((ok) => {
      const sample = samples[name]
      if (sample === undefined || !recording) return
      sample.ms.push(Math.min(TIMEOUT_MS, performance.now() - started))
      if (!ok) sample.failed += 1
    })
    pending.add(done)
    void done.then(() => pending.delete(done))
  }
}
// Warm-up, not recorded: the first request of each kind pays for loading and compiling its code and for opening the
// gRPC connection, which with ~100 samples a probe would be its p99. Then samples until the load's end
// (`untilEpochMs`, when given: the load started when this process did).
let recording = false
for (let i = 0; i < 10; i++) {
  fire()
  await Promise.all(pending)
}
recording = true
const stopAt = performance.now() + (options.untilEpochMs === undefined ? options.ms : options.untilEpochMs - Date.now())
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    if (performance.now() >= stopAt) {
      clearInterval(timer)
      resolve()
    } else fire()
  }, options.everyMs)
})
await Promise.all(pending)
const percentile = (sorted: Array<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
const round = (ms: number) => Math.round(ms * 10) / 10
const results = Object.fromEntries(
  Object.entries(samples).map(([name, { ms, failed }]) => {
    const sorted = [...ms].sort((a, b) => a - b)
    return [
      name,
      {
        count: sorted.length,
        failed,
        p50Ms: round(percentile(sorted, 0.5)),
        p99Ms: round(percentile(sorted, 0.99)),
        maxMs: round(sorted.at(-1) ?? 0)
      }
    ]
  })
)
const byCode = Object.fromEntries(
  [...calls].map(([code, ms]) => {
    const sorted = [...ms].sort((a, b) => a - b)
    return [
      code,
      { count: sorted.length, p50Ms: round(percentile(sorted, 0.5)), p99Ms: round(percentile(sorted, 0.99)) }
    ]
  })
)
console.log(`PROBE RESULTS ${JSON.stringify({ ...results, calls: byCode, warmup })}`)
health.close()
greeter.close()
