// npm run bench: SayHello throughput and latency of the service against a plain grpc-js + ioredis server
// (bench/baseline-server.ts), in one run, on real Postgres and Redis, driven by h2load. See docs/performance.md.
//
//   npm run bench [-- --duration 5 --levels 1,16,64,256 --mixes hit,miss20 --out bench/results/latest.json]
//
// Postgres: BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres (a
// throwaway database is created on it and dropped at the end). Redis: BENCH_REDIS_URL, else TEST_REDIS_URL, else
// redis://127.0.0.1:6379 (every key under one run prefix, deleted at the end). Servers are pinned to core 1 and
// h2load to core 0 when taskset and two cores are there.
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { availableParallelism } from "node:os"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { parseArgs } from "node:util"
import {
  ensureH2load,
  grpcCounts,
  imageNodeOptions,
  METHOD,
  onCore,
  openBench,
  pinned,
  ROOT,
  say,
  waitFor
} from "./harness.js"

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    levels: { type: "string", default: "1,16,64,256" },
    mixes: { type: "string", default: "hit,miss20" },
    out: { type: "string", default: join(ROOT, "bench", "results", "latest.json") },
    "log-level": { type: "string", default: "warning" },
    strict: { type: "boolean", default: false }
  }
})
const seconds = Number(args.duration)
const levels = args.levels.split(",").map(Number)
const mixes = args.mixes.split(",") as Array<Mix>
type Mix = "hit" | "miss20"
if (!(seconds > 0) || levels.some((n) => !(n >= 1)) || mixes.some((m) => m !== "hit" && m !== "miss20")) {
  console.error("usage: npm run bench -- [--duration S] [--levels 1,16,64,256] [--mixes hit,miss20] [--out FILE]")
  process.exit(2)
}

const HIT_USER = 1n // seeded (Alice): after the warm-up every call is a cache hit
const MISSING_USER = 987_654_321n // in neither cache nor database (negative caching is off in both servers)

if (!ensureH2load()) {
  console.error(
    "h2load not found: install it (Debian/Ubuntu: apt-get install nghttp2-client; macOS: brew install nghttp2)"
  )
  process.exit(1)
}
const {
  work,
  started,
  databaseUrl,
  redisUrl,
  keyPrefix,
  cleanUp,
  startService: startCompiled,
  sayHelloBody
} = await openBench("bench")

// ---------------------------------------------------------------- a span sink (OTLP/HTTP) for the traced runs

let spanBatches = 0
let spanBytes = 0
const sink = createServer((request, response) => {
  request.on("data", (chunk: Buffer) => {
    spanBytes += chunk.length
  })
  request.on("end", () => {
    spanBatches += 1
    response.writeHead(200, { "content-type": "application/json" }).end("{}")
  })
})
await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve))
const sinkAddress = sink.address()
const collector = `127.0.0.1:${typeof sinkAddress === "object" && sinkAddress !== null ? sinkAddress.port : 0}`

// ---------------------------------------------------------------- the servers

interface Server {
  readonly name: string
  readonly child: ChildProcess
  readonly grpcPort: number
  /** Calls answered so far, by gRPC code name (OK, NotFound, ...). */
  readonly counts: () => Promise<Record<string, number>>
}

const lines = (child: ChildProcess, onLine: (line: string) => void) => {
  if (child.stdout) createInterface({ input: child.stdout }).on("line", onLine)
}

/** A plain grpc-js server of bench/ (the baseline, or the floor): prints LISTENING and, on SIGUSR2, SERVED. */
const startPlain = async (name: string, script: string, scriptArgs: Array<string>): Promise<Server> => {
  const [command, rest] = onCore(1, process.execPath, ["--import", "tsx", script, "0", ...scriptArgs])
  const child = spawn(command, rest, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] })
  started.push(child)
  let port: number | undefined
  let served: Record<string, number> | undefined
  lines(child, (line) => {
    const listening = /^LISTENING (\d+)/.exec(line)
    if (listening) port = Number(listening[1])
    const counts = /^SERVED ok=(\d+) notfound=(\d+) failed=(\d+)/.exec(line)
    if (counts) served = { OK: Number(counts[1]), NotFound: Number(counts[2]), Failed: Number(counts[3]) }
  })
  const grpcPort = await waitFor(`${name} LISTENING`, 30_000, () => port)
  return {
    name,
    child,
    grpcPort,
    counts: async () => {
      served = undefined
      child.kill("SIGUSR2")
      return waitFor(`${name} SERVED`, 5000, () => served)
    }
  }
}

const startService = async (name: string, env: Record<string, string>): Promise<Server> => {
  const service = await startCompiled(name, { LOG_LEVEL: args["log-level"], ...env })
  return {
    name,
    child: service.child,
    grpcPort: service.grpcPort,
    counts: async () => grpcCounts(await service.metrics())
  }
}

// ---------------------------------------------------------------- h2load

const bodies = { hit: sayHelloBody(HIT_USER), miss: sayHelloBody(MISSING_USER) }

interface Load {
  readonly requests: number
  readonly succeeded: number
  readonly failed: number
  readonly latenciesUs: Array<number>
}

/**
 * One h2load process: exactly `inFlight` calls at once, over up to 4 connections (as many as divide it evenly:
 * h2load gives every connection the same number of streams).
 */
const h2load = (port: number, inFlight: number, ms: number, body: string, tag: string) =>
  new Promise<Load>((resolve, reject) => {
    const clients = [4, 3, 2, 1].find((c) => inFlight % c === 0) ?? 1
    const log = join(work, `h2load-${tag}.log`)
    const [command, rest] = onCore(0, "h2load", [
      "-c",
      String(clients),
      "-m",
      String(inFlight / clients),
      "-t",
      "1",
      "-D",
      String(ms / 1000),
      "-d",
      body,
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      "--log-file",
      log,
      `http://127.0.0.1:${port}${METHOD}`
    ])
    const child = spawn(command, rest, { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.on("exit", (code) => {
      const match = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(
        out
      )
      if (code !== 0 || !match) return reject(new Error(`h2load failed (${code}):\n${out}`))
      // --log-file: one line per request, "start (µs since epoch) \t HTTP status \t latency (µs)".
      const latenciesUs = readFileSync(log, "utf8")
        .split("\n")
        .flatMap((row) => {
          const latency = Number(row.split("\t")[2])
          return Number.isFinite(latency) && latency > 0 ? [latency] : []
        })
      rmSync(log, { force: true })
      resolve({
        requests: Number(match[2]),
        succeeded: Number(match[3]),
        failed: Number(match[4]) + Number(match[5]),
        latenciesUs
      })
    })
  })

// ---------------------------------------------------------------- one measurement

const rssMb = (pid: number | undefined): number => {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
    return kb === undefined ? 0 : Math.round(Number(kb) / 1024)
  } catch {
    return 0
  }
}
const percentile = (sorted: Array<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

export interface Row {
  readonly mix: Mix
  readonly inFlight: number
  readonly server: string
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly rssMb: number
  /** Calls the server answered, by code, during the run. */
  readonly codes: Record<string, number>
  /** Share of the calls that were cache misses (NOT_FOUND for the missing user). */
  readonly missShare: number
  /** Anything that is not an expected answer: h2load failures, and codes other than OK (and NotFound in miss20). */
  readonly errors: number
}

const measure = async (server: Server, mix: Mix, inFlight: number, ms: number): Promise<Row> => {
  const before = await server.counts()
  let peakRss = rssMb(server.child.pid)
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb(server.child.pid))
  }, 100)
  const misses = mix === "miss20" ? Math.max(1, Math.round(inFlight / 5)) : 0
  const loads = await Promise.all([
    h2load(server.grpcPort, inFlight - misses, ms, bodies.hit, `${server.name}-hit`),
    ...(misses > 0 ? [h2load(server.grpcPort, misses, ms, bodies.miss, `${server.name}-miss`)] : [])
  ])
  clearInterval(sampler)
  const after = await server.counts()
  const codes: Record<string, number> = {}
  for (const code of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const delta = (after[code] ?? 0) - (before[code] ?? 0)
    if (delta > 0) codes[code] = delta
  }
  const done = loads.reduce((sum, load) => sum + load.requests, 0)
  const answered = Object.values(codes).reduce((sum, n) => sum + n, 0)
  // h2load resets the streams still open when its time is up: those calls end Canceled on the server, at most
  // one per call in flight. Anything else that is not OK (or NotFound, the misses of miss20) is an error.
  const cancelledAtEnd = Math.min(codes.Canceled ?? 0, inFlight)
  const unexpected =
    Object.entries(codes)
      .filter(([code]) => code !== "OK" && !(code === "NotFound" && mix === "miss20"))
      .reduce((sum, [, n]) => sum + n, 0) - cancelledAtEnd
  // h2load counts an HTTP 200 as success whatever the grpc-status; the server's own counts tell the truth. They
  // may exceed h2load's by the calls still in flight when h2load stopped, never fall short.
  const h2Failures = loads.reduce((sum, load) => sum + load.failed + (load.requests - load.succeeded), 0)
  const uncounted = Math.max(0, done - answered)
  const latencies = loads.flatMap((load) => load.latenciesUs).sort((a, b) => a - b)
  return {
    mix,
    inFlight,
    server: server.name,
    rps: Math.round(done / (ms / 1000)),
    p50Ms: Math.round(percentile(latencies, 0.5)) / 1000,
    p99Ms: Math.round(percentile(latencies, 0.99)) / 1000,
    rssMb: peakRss,
    codes,
    missShare: answered === 0 ? 0 : Math.round(((codes.NotFound ?? 0) / answered) * 1000) / 1000,
    errors: unexpected + h2Failures + uncounted
  }
}

// ---------------------------------------------------------------- the run

const rows: Array<Row> = []
let exitCode = 0
try {
  say(
    `starting the servers${pinned ? " (pinned to core 1; h2load on core 0)" : " (not pinned: taskset or a second core missing)"} ...`
  )
  const servers = [
    await startPlain("floor", "bench/floor-server.ts", []),
    await startPlain("baseline", "bench/baseline-server.ts", [
      redisUrl.toString(),
      databaseUrl,
      `${keyPrefix}baseline:`
    ]),
    await startService("service-trace10", { TRACING_COLLECTOR_URL: collector, TRACING_SAMPLE_RATIO: "0.1" }),
    await startService("service-trace100", { TRACING_COLLECTOR_URL: collector, TRACING_SAMPLE_RATIO: "1" })
  ]
  say("warming up (JIT, cache filled) ...")
  for (const server of servers) {
    await h2load(server.grpcPort, 64, 3000, bodies.hit, `${server.name}-warm`)
    if (server.name === "floor") continue
    await h2load(server.grpcPort, 4, 1000, bodies.miss, `${server.name}-warm-miss`)
  }
  for (const mix of mixes) {
    for (const inFlight of levels) {
      if (mix === "miss20" && inFlight < 5) {
        say(`miss20 at ${inFlight} in flight: skipped (one call in five must be a miss: needs 5 or more in flight)`)
        continue
      }
      // Servers take turns at each level, so a drift of the machine touches all of them alike. The floor answers
      // every id alike, so it runs the hit mix only.
      for (const server of servers) {
        if (server.name === "floor" && mix !== "hit") continue
        const row = await measure(server, mix, inFlight, seconds * 1000)
        rows.push(row)
        say(
          `${mix.padEnd(6)} ${String(inFlight).padStart(3)} in flight  ${server.name.padEnd(16)} ${String(row.rps).padStart(6)} req/s  p50 ${row.p50Ms} ms  p99 ${row.p99Ms} ms  rss ${row.rssMb} MB  errors ${row.errors}`
        )
      }
    }
  }
} catch (error) {
  console.error(String(error))
  exitCode = 1
} finally {
  await cleanUp()
  await new Promise<void>((resolve) => sink.close(() => resolve()))
}

// ---------------------------------------------------------------- report

const baselineOf = (row: Row) =>
  rows.find((r) => r.mix === row.mix && r.inFlight === row.inFlight && r.server === "baseline")
const ratio = (a: number, b: number | undefined) => (b ? Math.round((a / b) * 100) / 100 : 0)
for (const mix of mixes) {
  say(`\n### SayHello, ${mix === "hit" ? "cache hits" : "20% cache misses"} (${seconds} s per row)\n`)
  say("| in flight | server | req/s | ×baseline | p50 ms | p99 ms | p99 ×baseline | RSS MB | misses | errors |")
  say("|---|---|---|---|---|---|---|---|---|---|")
  for (const row of rows.filter((r) => r.mix === mix)) {
    const base = baselineOf(row)
    say(
      `| ${row.inFlight} | ${row.server} | ${row.rps} | ${ratio(row.rps, base?.rps)} | ${row.p50Ms} | ${row.p99Ms} | ${ratio(row.p99Ms, base?.p99Ms)} | ${row.rssMb} | ${row.missShare} | ${row.errors} |`
    )
  }
}

const at64 = (server: string) => rows.find((r) => r.mix === "hit" && r.inFlight === 64 && r.server === server)
const targets: Array<{ target: string; value: number; limit: number; met: boolean }> = []
const base64 = at64("baseline")
const t10 = at64("service-trace10")
const t100 = at64("service-trace100")
if (base64 && t10 && t100) {
  const add = (target: string, value: number, limit: number, atLeast: boolean) =>
    targets.push({ target, value, limit, met: atLeast ? value >= limit : value <= limit })
  add("req/s, metrics + tracing 10%, ×baseline", ratio(t10.rps, base64.rps), 1.0, true)
  add("req/s, metrics + tracing 100%, ×baseline", ratio(t100.rps, base64.rps), 0.75, true)
  add("p99, tracing 10%, ×baseline", ratio(t10.p99Ms, base64.p99Ms), 1.5, false)
  add("p99, tracing 100%, ×baseline", ratio(t100.p99Ms, base64.p99Ms), 1.5, false)
  add("RSS under load, MB (tracing 10%)", t10.rssMb, 250, false)
  add("RSS under load, MB (tracing 100%)", t100.rssMb, 250, false)
  add(
    "errors, every row",
    rows.reduce((sum, r) => sum + r.errors, 0),
    0,
    false
  )
  say("\n### Targets (64 in flight, cache hits)\n")
  for (const t of targets) say(`- ${t.met ? "met" : "NOT met"}: ${t.target} = ${t.value} (target ${t.limit})`)
}
if (rows.some((r) => r.errors > 0)) {
  console.error("\nsome calls were not answered as expected (see the errors column): the figures are not valid")
  exitCode = 1
}
if (args.strict && targets.some((t) => !t.met)) exitCode = 1

mkdirSync(dirname(args.out), { recursive: true })
writeFileSync(
  args.out,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      commit: spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).stdout.trim(),
      machine: { cores: availableParallelism(), pinned, node: process.version },
      settings: {
        seconds,
        levels,
        mixes,
        logLevel: args["log-level"],
        serviceNodeOptions: imageNodeOptions,
        spanBatches,
        spanBytes
      },
      rows,
      targets
    },
    null,
    2
  )}\n`
)
say(`\nresults: ${args.out}`)
process.exit(exitCode)
