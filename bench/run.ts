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
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { createServer as createNetServer } from "node:net"
import { availableParallelism, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { parseArgs } from "node:util"
import { Redis } from "ioredis"
import pg from "pg"

const ROOT = join(import.meta.dirname, "..")
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
const METHOD = "/hello_world.Greeter/SayHello"
const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`
const work = mkdtempSync(join(tmpdir(), "bench-"))
const started: Array<ChildProcess> = []
const say = (line: string) => console.log(line)

// ---------------------------------------------------------------- tools and pinning

const has = (command: string, ...rest: Array<string>) => spawnSync(command, rest, { stdio: "ignore" }).status === 0
if (!has("h2load", "--version")) {
  const root = process.getuid?.() === 0
  if (root && has("apt-get", "--version")) {
    say("h2load is missing: installing Debian's nghttp2-client ...")
    spawnSync("apt-get", ["install", "-y", "-q", "nghttp2-client"], { stdio: "ignore" })
    if (!has("h2load", "--version")) {
      spawnSync("apt-get", ["update", "-q"], { stdio: "ignore" })
      spawnSync("apt-get", ["install", "-y", "-q", "nghttp2-client"], { stdio: "ignore" })
    }
  }
  if (!has("h2load", "--version")) {
    console.error(
      "h2load not found: install it (Debian/Ubuntu: apt-get install nghttp2-client; macOS: brew install nghttp2)"
    )
    process.exit(1)
  }
}
const pinned = availableParallelism() >= 2 && has("taskset", "-c", "0", "true")
const onCore = (core: number, command: string, rest: Array<string>): [string, Array<string>] =>
  pinned ? ["taskset", ["-c", String(core), command, ...rest]] : [command, rest]

// ---------------------------------------------------------------- Postgres and Redis

const adminUrl =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const redisUrl = new URL(process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379")
const database = `bench_${runId}`
const databaseUrl = (() => {
  const url = new URL(adminUrl)
  url.pathname = `/${database}`
  return url.toString()
})()
const keyPrefix = `bench-${runId}:`

const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 })
try {
  await admin.connect()
  await admin.query(`CREATE DATABASE ${database}`)
} catch (error) {
  console.error(`Postgres at ${new URL(adminUrl).host} does not answer (${String(error)}): set BENCH_DATABASE_URL`)
  process.exit(1)
}
const redis = new Redis(redisUrl.toString(), { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 5000 })
try {
  await redis.connect()
  await redis.ping()
} catch (error) {
  console.error(`Redis at ${redisUrl.host} does not answer (${String(error)}): set BENCH_REDIS_URL`)
  await cleanUp()
  process.exit(1)
}

async function cleanUp() {
  for (const child of started) if (child.exitCode === null) child.kill("SIGKILL")
  let cursor = "0"
  do {
    const [next, keys] = await redis
      .scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 1000)
      .catch((): [string, Array<string>] => ["0", []])
    if (keys.length > 0) await redis.del(...keys).catch(() => 0)
    cursor = next
  } while (cursor !== "0")
  redis.disconnect()
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
  await admin.end().catch(() => undefined)
  rmSync(work, { recursive: true, force: true })
}
process.on("SIGINT", () => void cleanUp().then(() => process.exit(130)))

// The service runs as the container image runs it: with the image's NODE_OPTIONS (the heap size).
const imageNodeOptions = /^ENV NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(join(ROOT, "Dockerfile"), "utf8"))?.[1] ?? ""

// ---------------------------------------------------------------- build, schema, seed

const run = (command: string, rest: Array<string>, env: Record<string, string> = {}) => {
  const result = spawnSync(command, rest, { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" })
  if (result.status !== 0) throw new Error(`${command} ${rest.join(" ")} failed:\n${result.stdout}${result.stderr}`)
}
say("building (npm run build) ...")
run("npm", ["run", "--silent", "build"])
const serviceDbEnv = { DATABASE_DSN: databaseUrl, LOG_LEVEL: "warning" }
run(process.execPath, ["dist/src/app/cli/migrate.js"], serviceDbEnv)
run(process.execPath, ["dist/src/app/cli/seed.js"], serviceDbEnv)

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
const waitFor = <A>(what: string, ms: number, probe: () => A | undefined | Promise<A | undefined>) =>
  new Promise<A>((resolve, reject) => {
    const deadline = Date.now() + ms
    const tick = async () => {
      const value = await probe()
      if (value !== undefined) return resolve(value)
      if (Date.now() > deadline) return reject(new Error(`${what}: nothing within ${ms} ms`))
      setTimeout(tick, 50)
    }
    void tick()
  })

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
  const grpcPort = await freePort()
  const httpPort = await freePort()
  const [command, rest] = onCore(1, process.execPath, [join(ROOT, "dist", "src", "main.js")])
  const child = spawn(command, rest, {
    // An empty working directory: no stray .env; only the environment below.
    cwd: mkdtempSync(join(work, "service-")),
    env: {
      PATH: process.env.PATH ?? "",
      GRPC_SERVER_URL: `127.0.0.1:${grpcPort}`,
      HTTP_SERVER_URL: `127.0.0.1:${httpPort}`,
      DATABASE_DSN: databaseUrl,
      REDIS_ADDR: redisUrl.host,
      ...(redisUrl.password ? { REDIS_PASSWORD: decodeURIComponent(redisUrl.password) } : {}),
      ...(redisUrl.pathname.length > 1 ? { REDIS_DB: redisUrl.pathname.slice(1) } : {}),
      REDIS_KEY_PREFIX: `${keyPrefix}${name}:`,
      LOG_LEVEL: args["log-level"],
      NODE_OPTIONS: imageNodeOptions,
      ...env
    },
    stdio: ["ignore", "ignore", "inherit"]
  })
  started.push(child)
  await waitFor(`${name} ready`, 60_000, () =>
    child.exitCode !== null
      ? Promise.reject(new Error(`${name} exited with ${child.exitCode}`))
      : fetch(`http://127.0.0.1:${httpPort}/readyz`)
          .then((response) => (response.status === 200 ? true : undefined))
          .catch(() => undefined)
  )
  return {
    name,
    child,
    grpcPort,
    counts: async () => {
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
      const counts: Record<string, number> = {}
      for (const match of text.matchAll(/^grpc_requests_total\{([^}]*)\} (\S+)$/gm)) {
        const labels = match[1] ?? ""
        const status = /status="([^"]*)"/.exec(labels)?.[1]
        if (labels.includes(`method="${METHOD}"`) && status) counts[status] = Number(match[2])
      }
      return counts
    }
  }
}

/** A port free on loopback now (the service is told to listen on it: its "listening" lines are at info level). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createNetServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      probe.close(() => resolve(port))
    })
  })

// ---------------------------------------------------------------- h2load

/** A gRPC request: the 5-byte frame header (uncompressed, length) and SayHelloRequest { user_id = 1 (varint) }. */
const bodyFile = (userId: bigint) => {
  const varint: Array<number> = []
  let rest = userId
  do {
    const byte = Number(rest & 0x7fn)
    rest >>= 7n
    varint.push(rest > 0n ? byte | 0x80 : byte)
  } while (rest > 0n)
  const message = Buffer.from([0x08, ...varint])
  const frame = Buffer.alloc(5 + message.length)
  frame.writeUInt8(0, 0)
  frame.writeUInt32BE(message.length, 1)
  message.copy(frame, 5)
  const path = join(work, `say-hello-${userId}.bin`)
  writeFileSync(path, frame)
  return path
}
const bodies = { hit: bodyFile(HIT_USER), miss: bodyFile(MISSING_USER) }

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
