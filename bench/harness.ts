// What both benchmarks (bench/run.ts, bench/overload.ts) stand on: the tools and core pinning, a throwaway Postgres
// database and a Redis key prefix (both removed at the end), the compiled and migrated service, and starting it.
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer as createNetServer } from "node:net"
import { availableParallelism, tmpdir } from "node:os"
import { join } from "node:path"
import { Redis } from "ioredis"
import pg from "pg"

export const ROOT = join(import.meta.dirname, "..")
export const METHOD = "/hello_world.Greeter/SayHello"
export const say = (line: string) => console.log(line)

export const has = (command: string, ...rest: Array<string>) =>
  spawnSync(command, rest, { stdio: "ignore" }).status === 0

/** h2load, installed from Debian's nghttp2-client when missing and this is root on Debian; false when it can't be. */
export const ensureH2load = (): boolean => {
  if (has("h2load", "--version")) return true
  if (process.getuid?.() === 0 && has("apt-get", "--version")) {
    say("h2load is missing: installing Debian's nghttp2-client ...")
    spawnSync("apt-get", ["install", "-y", "-q", "nghttp2-client"], { stdio: "ignore" })
    if (!has("h2load", "--version")) {
      spawnSync("apt-get", ["update", "-q"], { stdio: "ignore" })
      spawnSync("apt-get", ["install", "-y", "-q", "nghttp2-client"], { stdio: "ignore" })
    }
  }
  return has("h2load", "--version")
}

export const pinned = availableParallelism() >= 2 && has("taskset", "-c", "0", "true")
/** The command pinned to one core (the service on 1, load and probes on 0) when taskset and two cores are there. */
export const onCore = (core: number, command: string, rest: Array<string>): [string, Array<string>] =>
  pinned ? ["taskset", ["-c", String(core), command, ...rest]] : [command, rest]

// The service runs as the container image runs it: with the image's NODE_OPTIONS (the heap size) and the node flags
// of its CMD (["node", "--flag", ..., "dist/src/main.js"]).
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8")
export const imageNodeOptions = /^ENV NODE_OPTIONS="([^"]*)"/m.exec(dockerfile)?.[1] ?? ""
export const imageNodeFlags = [
  ...(/^CMD \["node", (.*)"dist\/src\/main\.js"\]/m.exec(dockerfile)?.[1] ?? "").matchAll(/"(--[^"]+)"/g)
].map((match) => match[1] ?? "")

/** Polls `probe` every 50 ms until it gives a value, failing after `ms` or as soon as `probe` fails. */
export const waitFor = <A>(what: string, ms: number, probe: () => A | undefined | Promise<A | undefined>) =>
  new Promise<A>((resolve, reject) => {
    const deadline = Date.now() + ms
    const tick = async () => {
      try {
        const value = await probe()
        if (value !== undefined) return resolve(value)
        if (Date.now() > deadline) return reject(new Error(`${what}: nothing within ${ms} ms`))
        setTimeout(tick, 50)
      } catch (error) {
        // E.g. the service exited: the caller's clean-up must run, not an unhandled rejection.
        reject(error)
      }
    }
    void tick()
  })

/** A port free on loopback now (the service is told to listen on it: its "listening" lines are at info level). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createNetServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      probe.close(() => resolve(port))
    })
  })

/** grpc_requests_total for one method, by code name (OK, ResourceExhausted, ...), from a Prometheus page. */
export const grpcCounts = (text: string, method: string = METHOD): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const match of text.matchAll(/^grpc_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = match[1] ?? ""
    const status = /status="([^"]*)"/.exec(labels)?.[1]
    if (labels.includes(`method="${method}"`) && status) counts[status] = Number(match[2])
  }
  return counts
}

export interface RunningService {
  readonly child: ChildProcess
  readonly grpcPort: number
  readonly httpPort: number
  /** The service's /metrics page. */
  readonly metrics: () => Promise<string>
}

/**
 * Sets up one benchmark run: a database on BENCH_DATABASE_URL (else TEST_DATABASE_URL, else the local server) and
 * Redis on BENCH_REDIS_URL (else TEST_REDIS_URL, else the local one), the service built, migrated and seeded. Every
 * process started goes in `started`; `cleanUp` stops them by PID and removes the database and the keys (also on
 * SIGINT). Exits with a message naming the variable to set when Postgres or Redis does not answer.
 */
export const openBench = async (name: string) => {
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`
  const work = mkdtempSync(join(tmpdir(), `${name}-`))
  const started: Array<ChildProcess> = []
  const adminUrl =
    process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
  const redisUrl = new URL(process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379")
  const database = `${name.replace(/\W/g, "_")}_${runId}`
  const databaseUrl = (() => {
    const url = new URL(adminUrl)
    url.pathname = `/${database}`
    return url.toString()
  })()
  const keyPrefix = `${name}-${runId}:`

  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 })
  const redis = new Redis(redisUrl.toString(), { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 5000 })
  const cleanUp = async () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
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
  try {
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
  } catch (error) {
    console.error(`Postgres at ${new URL(adminUrl).host} does not answer (${String(error)}): set BENCH_DATABASE_URL`)
    process.exit(1)
  }
  try {
    await redis.connect()
    await redis.ping()
  } catch (error) {
    console.error(`Redis at ${redisUrl.host} does not answer (${String(error)}): set BENCH_REDIS_URL`)
    await cleanUp()
    process.exit(1)
  }
  process.on("SIGINT", () => void cleanUp().then(() => process.exit(130)))

  const run = (command: string, rest: Array<string>, env: Record<string, string> = {}) => {
    const result = spawnSync(command, rest, { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" })
    if (result.status !== 0) throw new Error(`${command} ${rest.join(" ")} failed:\n${result.stdout}${result.stderr}`)
  }
  say("building (npm run build) ...")
  run("npm", ["run", "--silent", "build"])
  const serviceDbEnv = { DATABASE_DSN: databaseUrl, LOG_LEVEL: "warning" }
  run(process.execPath, ["dist/src/main/cli/migrate.js"], serviceDbEnv)
  run(process.execPath, ["dist/src/main/cli/seed.js"], serviceDbEnv)

  /** The compiled service on core 1, on this run's database and Redis prefix, with `env` on top; waits for ready. */
  const startService = async (service: string, env: Record<string, string>): Promise<RunningService> => {
    const grpcPort = await freePort()
    const httpPort = await freePort()
    const [command, rest] = onCore(1, process.execPath, [...imageNodeFlags, join(ROOT, "dist", "src", "main.js")])
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
        REDIS_KEY_PREFIX: `${keyPrefix}${service}:`,
        NODE_OPTIONS: imageNodeOptions,
        ...env
      },
      // The service's log lines are written (to /dev/null), as they would be to a collector's pipe.
      stdio: ["ignore", "ignore", "inherit"]
    })
    started.push(child)
    await waitFor(`${service} ready`, 60_000, () =>
      child.exitCode !== null
        ? Promise.reject(new Error(`${service} exited with ${child.exitCode}`))
        : fetch(`http://127.0.0.1:${httpPort}/readyz`)
            .then((response) => (response.status === 200 ? true : undefined))
            .catch(() => undefined)
    )
    return {
      child,
      grpcPort,
      httpPort,
      metrics: async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
    }
  }

  /** A gRPC request for h2load's -d: the 5-byte frame header and SayHelloRequest { user_id } (a varint). */
  const sayHelloBody = (userId: bigint) => {
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

  return { work, started, databaseUrl, redisUrl, keyPrefix, cleanUp, startService, sayHelloBody }
}
