// npm run bench:overload: the gRPC and HTTP front doors under 8× overload, with a fixed MAX_IN_FLIGHT and with the
// adaptive limit (MAX_IN_FLIGHT=auto). See docs/performance.md#overload.
//
//   npm run bench:overload [-- --duration 5 --callers 64,512 --limits 64,auto --deadline 1000 --connections 4
//                              --load h2load|node]
//
// The compiled service (dist/) runs on real Postgres (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else
// postgres://postgres@127.0.0.1:5432/postgres; a throwaway database, dropped at the end) and Redis (BENCH_REDIS_URL,
// else TEST_REDIS_URL, else redis://127.0.0.1:6379; keys under one run prefix, deleted at the end), pinned to core 1.
// The closed-loop load and a light probe process at a fixed rate (bench/overload-probe.ts) run on core 0. The load is
// h2load by default (callers = its streams, each call with a grpc-timeout of the deadline): the latency per code is
// then the probe's SayHello samples and the counts are the server's. With --load node it is bench/overload-load.ts
// (a grpc-js process, slower than the server, whose own queueing adds to every latency it measures), whose counts
// per code are checked against the server's. Every run is bounded in time; every process is stopped by its PID.
import { type ChildProcess, spawn } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { availableParallelism, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { parseArgs } from "node:util"
import { ensureH2load, grpcCounts, has, METHOD, onCore, openBench, pinned, ROOT, say, waitFor } from "./harness.js"

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    callers: { type: "string", default: "64,512" },
    limits: { type: "string", default: "64,auto" },
    deadline: { type: "string", default: "1000" },
    connections: { type: "string", default: "4" },
    "probe-every": { type: "string", default: "50" },
    "log-level": { type: "string", default: "info" },
    // h2load (C, on core 0) makes the overload without being overloaded itself; node (bench/overload-load.ts) also
    // checks that the server's counts per code equal the client's.
    load: { type: "string", default: "h2load" },
    out: { type: "string", default: join(ROOT, "bench", "results", "overload.json") },
    strict: { type: "boolean", default: false }
  }
})
const seconds = Number(args.duration)
const callerLevels = args.callers.split(",").map(Number)
const limits = args.limits.split(",")
const deadlineMs = Number(args.deadline)
const connections = Number(args.connections)
const probeEveryMs = Number(args["probe-every"])
if (
  !(seconds > 0) ||
  callerLevels.some((n) => !(n >= 1)) ||
  limits.some((l) => l !== "auto" && !(Number(l) >= 1)) ||
  !(deadlineMs > 0) ||
  !(connections >= 1)
) {
  console.error("usage: npm run bench:overload -- [--duration S] [--callers 64,512] [--limits 64,auto] [--deadline MS]")
  process.exit(2)
}
const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ")

// h2load is the load when it is there (installed from Debian when missing and possible); else the grpc-js load.
const useH2load = args.load === "h2load" && ensureH2load()
if (args.load === "h2load" && !useH2load)
  console.error("h2load not found (Debian: apt-get install nghttp2-client): the load is bench/overload-load.ts")
const { started, cleanUp, startService: startCompiled, sayHelloBody } = await openBench("bench-overload")

interface Service {
  readonly name: string
  readonly child: ChildProcess
  readonly grpcPort: number
  readonly httpPort: number
  /** Server-side grpc_requests_total for SayHello, by code name (OK, ResourceExhausted, ...). */
  readonly counts: () => Promise<Record<string, number>>
  /** The admission limit gauge (admission_limit{door="grpc"}), if exported. */
  readonly limit: () => Promise<number | undefined>
}

const startService = async (name: string, env: Record<string, string>): Promise<Service> => {
  const service = await startCompiled(name, { LOG_LEVEL: args["log-level"], ...env })
  return {
    name,
    child: service.child,
    grpcPort: service.grpcPort,
    httpPort: service.httpPort,
    counts: async () => grpcCounts(await service.metrics()),
    limit: async () => {
      const match = /^admission_limit\{door="grpc"\} (\S+)$/m.exec(await service.metrics())
      return match?.[1] === undefined ? undefined : Number(match[1])
    }
  }
}

/** Runs a helper script (node --import tsx) on core 0 and resolves with the JSON of its "<TAG> RESULTS" line. */
const helper = <A>(script: string, options: object, tag: string, urgent = false) =>
  new Promise<A>((resolve, reject) => {
    const node = [process.execPath, "--import", "tsx", script, JSON.stringify(options)]
    // The probe stands for a kubelet or a load balancer, not for the load: it gets the CPU first on core 0 (where
    // the load generator spins), so its figures are the service's answer time, not its own wait for a turn.
    const [first = process.execPath, ...args] = urgent && niceable ? ["nice", "-n", "-10", ...node] : node
    const [command, rest] = onCore(0, first, args)
    const child = spawn(command, rest, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] })
    started.push(child)
    let result: A | undefined
    if (child.stdout)
      createInterface({ input: child.stdout }).on("line", (line) => {
        if (line.startsWith(`${tag} RESULTS `)) result = JSON.parse(line.slice(tag.length + 9))
      })
    // Bounded: the helper stops itself; this is the backstop.
    const backstop = setTimeout(() => child.kill("SIGKILL"), Number(Reflect.get(options, "ms")) + 60_000)
    child.on("exit", (code) => {
      clearTimeout(backstop)
      if (result === undefined) reject(new Error(`${script} exited with ${code} and no results`))
      else resolve(result)
    })
  })

const niceable = has("nice", "-n", "-10", "true")
/** SayHelloRequest { user_id = 1 } in its gRPC frame, for h2load's -d. */
const bodyFile = sayHelloBody(1n)

/** h2load on core 0: `callers` streams at once over `connections` connections, for `ms`. */
const h2load = (port: number, callers: number, ms: number) =>
  new Promise<{ readonly failed: number }>((resolve, reject) => {
    const clients = Math.min(connections, callers)
    const [command, rest] = onCore(0, "h2load", [
      ...["-c", String(clients), "-m", String(Math.ceil(callers / clients)), "-t", "1", "-D", String(ms / 1000)],
      ...["-d", bodyFile, "-H", "content-type: application/grpc", "-H", "te: trailers"],
      ...["-H", `grpc-timeout: ${deadlineMs}m`, `http://127.0.0.1:${port}${METHOD}`]
    ])
    const child = spawn(command, rest, { stdio: ["ignore", "pipe", "pipe"] })
    started.push(child)
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.on("exit", (code) => {
      const match = /requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored/.exec(out)
      if (code !== 0 || !match) reject(new Error(`h2load failed (${code}):\n${out}`))
      else resolve({ failed: Number(match[1]) + Number(match[2]) })
    })
  })

interface LoadResult {
  readonly elapsedMs: number
  readonly withinDeadline: number
  readonly codes: Record<string, { count: number; p50Ms: number; p99Ms: number }>
  readonly details: Record<string, Record<string, number>>
}
type ProbeResult = Record<string, { count: number; failed: number; p50Ms: number; p99Ms: number; maxMs: number }> & {
  readonly calls?: LoadResult["codes"]
  readonly warmup?: Record<string, number>
}

// Client-side names (grpc-js `status` keys) → the Go code names grpc_requests_total uses.
const GO_NAMES: Record<string, string> = {
  OK: "OK",
  CANCELLED: "Canceled",
  UNKNOWN: "Unknown",
  INVALID_ARGUMENT: "InvalidArgument",
  DEADLINE_EXCEEDED: "DeadlineExceeded",
  NOT_FOUND: "NotFound",
  ALREADY_EXISTS: "AlreadyExists",
  PERMISSION_DENIED: "PermissionDenied",
  RESOURCE_EXHAUSTED: "ResourceExhausted",
  FAILED_PRECONDITION: "FailedPrecondition",
  ABORTED: "Aborted",
  OUT_OF_RANGE: "OutOfRange",
  UNIMPLEMENTED: "Unimplemented",
  INTERNAL: "Internal",
  UNAVAILABLE: "Unavailable",
  DATA_LOSS: "DataLoss",
  UNAUTHENTICATED: "Unauthenticated"
}

interface Row {
  readonly limit: string
  readonly callers: number
  readonly loadAvg: string
  readonly rps: number
  readonly goodput: number
  readonly codes: LoadResult["codes"]
  readonly details: LoadResult["details"]
  readonly internal: number
  /**
   * Streams h2load counts failed or errored, which the server never answered with a gRPC status (it counts no
   * INTERNAL then). Seen only on the first connections to a freshly started service; most likely streams opened
   * before the server's SETTINGS (GRPC_MAX_CONCURRENT_STREAMS) arrived and refused with REFUSED_STREAM, which gRPC
   * clients retry transparently. The grpc-js load (--load node) shows what a gRPC client gets.
   */
  readonly h2loadErrored: number
  readonly probes: ProbeResult
  readonly server: Record<string, number>
  readonly client: Record<string, number>
  readonly countsAgree: boolean
  readonly finalLimit: number | undefined
}

const measure = async (service: Service, limit: string, callers: number): Promise<Row> => {
  const loadAvg = load()
  const before = await service.counts()
  const ms = seconds * 1000
  const probe = helper<ProbeResult>(
    "bench/overload-probe.ts",
    {
      grpcPort: service.grpcPort,
      httpPort: service.httpPort,
      ms,
      everyMs: probeEveryMs,
      deadlineMs,
      untilEpochMs: Date.now() + ms
    },
    "PROBE",
    true
  )
  const startedAt = performance.now()
  const [result, probes] = await Promise.all([
    useH2load
      ? h2load(service.grpcPort, callers, ms).then(
          (h2): LoadResult => ({
            elapsedMs: performance.now() - startedAt,
            withinDeadline: 0,
            codes: {},
            details: h2.failed > 0 ? { "h2load failed or errored streams": { count: h2.failed } } : {}
          })
        )
      : helper<LoadResult>(
          "bench/overload-load.ts",
          { port: service.grpcPort, callers, connections, ms, deadlineMs },
          "LOAD"
        ),
    probe
  ])
  const finalLimit = await service.limit()
  // The server records a call when it answers it; the client may see the answer a moment before: poll, bounded.
  const client: Record<string, number> = {}
  for (const [name, { count }] of Object.entries(result.codes)) client[GO_NAMES[name] ?? name] = count
  // The probe's own calls go to the same server: added to the client side.
  for (const [name, { count }] of Object.entries(probes.calls ?? {}))
    client[GO_NAMES[name] ?? name] = (client[GO_NAMES[name] ?? name] ?? 0) + count
  for (const [name, count] of Object.entries(probes.warmup ?? {}))
    client[GO_NAMES[name] ?? name] = (client[GO_NAMES[name] ?? name] ?? 0) + count
  let server: Record<string, number> = {}
  const agree = () =>
    [...new Set([...Object.keys(client), ...Object.keys(server)])].every(
      (code) => (client[code] ?? 0) === (server[code] ?? 0)
    )
  const until = Date.now() + 3000
  do {
    const after = await service.counts()
    server = {}
    for (const code of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const delta = (after[code] ?? 0) - (before[code] ?? 0)
      if (delta > 0) server[code] = delta
    }
    if (useH2load || agree()) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  } while (Date.now() < until)
  const elapsed = result.elapsedMs / 1000
  // With h2load, the counts are the server's (it answers DEADLINE_EXCEEDED for a call past its grpc-timeout, so its
  // OK answers are within the deadline), and the latencies the probe's samples.
  const codes: LoadResult["codes"] = useH2load
    ? Object.fromEntries(
        Object.entries(GO_NAMES).flatMap(([name, go]) => {
          const count = server[go] ?? 0
          const sample = probes.calls?.[name]
          return count > 0
            ? [[name, { count, p50Ms: sample?.p50Ms ?? Number.NaN, p99Ms: sample?.p99Ms ?? Number.NaN }]]
            : []
        })
      )
    : result.codes
  const total = Object.values(codes).reduce((sum, c) => sum + c.count, 0)
  const h2failed = Object.values(result.details["h2load failed or errored streams"] ?? {}).reduce((a, b) => a + b, 0)
  return {
    limit,
    callers,
    loadAvg,
    rps: Math.round(total / elapsed),
    goodput: Math.round((useH2load ? (server.OK ?? 0) : result.withinDeadline) / elapsed),
    codes,
    details: result.details,
    internal: codes.INTERNAL?.count ?? 0,
    h2loadErrored: h2failed,
    probes,
    server,
    client,
    countsAgree: useH2load ? true : agree(),
    finalLimit
  }
}

// ---------------------------------------------------------------- the run

const rows: Array<Row> = []
let exitCode = 0
try {
  say(`pinned: ${pinned ? "service on core 1, load and probes on core 0" : "no (taskset or a second core missing)"}`)
  for (const limit of limits) {
    const service = await startService(`limit-${limit}`, { MAX_IN_FLIGHT: limit })
    say(`MAX_IN_FLIGHT=${limit}: warming up (3 s at 64 callers) ...`)
    if (useH2load) await h2load(service.grpcPort, 64, 3000)
    else
      await helper(
        "bench/overload-load.ts",
        { port: service.grpcPort, callers: 64, connections, ms: 3000, deadlineMs },
        "LOAD"
      )
    for (const callers of callerLevels) {
      const row = await measure(service, limit, callers)
      rows.push(row)
      const shed = row.codes.RESOURCE_EXHAUSTED
      say(
        `MAX_IN_FLIGHT=${limit.padEnd(4)} ${String(callers).padStart(4)} callers  ${row.rps} calls/s  goodput ${row.goodput}/s  shed ${shed?.count ?? 0} (p50 ${shed?.p50Ms ?? "-"} p99 ${shed?.p99Ms ?? "-"} ms)  INTERNAL ${row.internal}  livez p99 ${row.probes.livez?.p99Ms} ms  counts agree ${row.countsAgree}  load ${row.loadAvg}`
      )
      for (const [code, byDetail] of Object.entries(row.details)) say(`    ${code}: ${JSON.stringify(byDetail)}`)
    }
    service.child.kill("SIGTERM")
    await waitFor(`${service.name} exit`, 20_000, () =>
      service.child.exitCode !== null || service.child.signalCode !== null ? true : undefined
    ).catch(() => service.child.kill("SIGKILL"))
  }
} catch (error) {
  console.error(String(error))
  exitCode = 1
} finally {
  await cleanUp()
}

// ---------------------------------------------------------------- report

const at = (limit: string, callers: number) => rows.find((r) => r.limit === limit && r.callers === callers)
say(
  `\n### Overload: SayHello (cache hits), ${seconds} s per row, deadline ${deadlineMs} ms, ${connections} connections, load ${useH2load ? "h2load (counts: the server's; latencies: the probe's SayHello samples)" : "bench/overload-load.ts"}\n`
)
say(
  "| MAX_IN_FLIGHT | callers | load avg | calls/s | goodput/s | OK p50/p99 ms | shed | shed p50/p99 ms | DEADLINE_EXCEEDED | INTERNAL | h2load refused | /livez p99 | /readyz p99 | /metrics p99 | health p99 | limit at end | server = client |"
)
say("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (const r of rows) {
  const ok = r.codes.OK
  const shed = r.codes.RESOURCE_EXHAUSTED
  say(
    `| ${r.limit} | ${r.callers} | ${r.loadAvg} | ${r.rps} | ${r.goodput} | ${ok ? `${ok.p50Ms} / ${ok.p99Ms}` : "-"} | ${shed?.count ?? 0} | ${shed ? `${shed.p50Ms} / ${shed.p99Ms}` : "-"} | ${r.codes.DEADLINE_EXCEEDED?.count ?? 0} | ${r.internal} | ${r.h2loadErrored} | ${r.probes.livez?.p99Ms} | ${r.probes.readyz?.p99Ms} | ${r.probes.metrics?.p99Ms} | ${r.probes.grpcHealth?.p99Ms} | ${r.finalLimit ?? "-"} | ${useH2load ? "n/a (h2load)" : r.countsAgree ? "yes" : `NO: server ${JSON.stringify(r.server)} client ${JSON.stringify(r.client)}`} |`
  )
}

const targets: Array<{ target: string; value: string; met: boolean }> = []
const overloaded = Math.max(...callerLevels)
const base = Math.min(...callerLevels)
for (const limit of limits) {
  const over = at(limit, overloaded)
  const normal = at(limit, base)
  if (over === undefined) continue
  const add = (target: string, value: string, met: boolean) =>
    targets.push({ target: `MAX_IN_FLIGHT=${limit}, ${overloaded} callers: ${target}`, value, met })
  for (const probe of ["livez", "readyz", "metrics", "grpcHealth"]) {
    const p = over.probes[probe]
    add(
      `${probe} p99 ≤ 100 ms, none failed`,
      `${p?.p99Ms} ms, ${p?.failed} failed`,
      p !== undefined && p.p99Ms <= 100 && p.failed === 0
    )
  }
  const shed = over.codes.RESOURCE_EXHAUSTED
  add("RESOURCE_EXHAUSTED p99 ≤ 20 ms", shed ? `${shed.p99Ms} ms` : "none shed", shed !== undefined && shed.p99Ms <= 20)
  add("zero INTERNAL", String(over.internal), over.internal === 0)
  if (normal !== undefined) {
    const share = normal.goodput === 0 ? 0 : Math.round((over.goodput / normal.goodput) * 100)
    add(`goodput ≥ 80 % of goodput at ${base} callers`, `${share} % (${over.goodput} / ${normal.goodput})`, share >= 80)
  }
}
if (!useH2load)
  targets.push({
    target: "server-side grpc_requests_total per code = client-side counts, every row",
    value: rows.every((r) => r.countsAgree) ? "equal" : "differ",
    met: rows.every((r) => r.countsAgree)
  })
const fixed64 = at("64", base)
if (fixed64 !== undefined)
  for (const limit of limits.filter((l) => l !== "64")) {
    const over = at(limit, overloaded)
    if (over === undefined) continue
    const share = fixed64.goodput === 0 ? 0 : Math.round((over.goodput / fixed64.goodput) * 100)
    targets.push({
      target: `MAX_IN_FLIGHT=${limit}, ${overloaded} callers: goodput ≥ 80 % of MAX_IN_FLIGHT=64 at ${base} callers`,
      value: `${share} %`,
      met: share >= 80
    })
  }
say("\n### Targets\n")
for (const t of targets) say(`- ${t.met ? "met" : "NOT met"}: ${t.target}: ${t.value}`)
if (args.strict && targets.some((t) => !t.met)) exitCode = 1

mkdirSync(dirname(args.out), { recursive: true })
writeFileSync(
  args.out,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      machine: { cores: availableParallelism(), pinned, node: process.version },
      settings: { seconds, callerLevels, limits, deadlineMs, connections, probeEveryMs, logLevel: args["log-level"] },
      rows,
      targets
    },
    null,
    2
  )}\n`
)
say(`\nresults: ${args.out}`)
process.exit(exitCode)
