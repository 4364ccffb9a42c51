import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath, pathToFileURL } from "node:url"

// npm start's own entry: src/main.ts from its bundle (scripts/bundle.mjs; globalSetup builds it once per run).
const MAIN = fileURLToPath(new URL("../../scripts/start.mjs", import.meta.url))
// tsx's loader, resolved from the repository: the child runs in a temporary directory with no node_modules.
const TSX = pathToFileURL(
  createRequire(import.meta.url)
    .resolve("tsx/package.json")
    .replace(/package\.json$/, "dist/loader.mjs")
).href

/**
 * How long a test waits for a service process to start. On a quiet machine a start takes 1-3 s (the embedded
 * Postgres about 5); with both cores busy it has taken 17 s. A generous bound: it only matters when the start fails.
 */
export const START_MS = 90_000

export interface ServiceProcess {
  readonly child: ChildProcess
  /** Every JSON log line so far. */
  readonly logs: Array<Record<string, unknown>>
  readonly stderr: Array<string>
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** Resolves with the first log line that matches, or rejects after `ms` (bounded wait). */
  readonly waitForLog: (
    match: (line: Record<string, unknown>) => boolean,
    ms: number
  ) => Promise<Record<string, unknown>>
}

/**
 * Runs the service as `npm start` does, in an empty working directory (no stray .env, unless `dotenv` gives one)
 * with only the given environment. The process is killed when the test forgets to stop it (see `stopAll`).
 */
export const startService = (
  env: Record<string, string>,
  script: string = MAIN,
  dotenv: string | undefined = undefined
): ServiceProcess => {
  const args = script === MAIN ? [MAIN] : ["--import", TSX, script, env.ARGS ?? ""]
  const cwd = mkdtempSync(join(tmpdir(), "service-"))
  if (dotenv !== undefined) writeFileSync(join(cwd, ".env"), dotenv)
  const child = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  running.add(child)
  const logs: Array<Record<string, unknown>> = []
  const stderr: Array<string> = []
  child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()))
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout ?? process.stdin }).on("line", (line) => {
    try {
      logs.push(JSON.parse(line))
    } catch {
      logs.push({ message: line })
    }
    for (const wake of waiters) wake()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      running.delete(child)
      for (const wake of waiters) wake()
      resolve({ code, signal })
    })
  )
  const waitForLog = (match: (line: Record<string, unknown>) => boolean, ms: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = logs.find(match)
        if (found !== undefined) return done(() => resolve(found))
        if (child.exitCode !== null)
          return done(() => reject(new Error(`service exited: ${JSON.stringify(logs)} ${stderr.join("")}`)))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`no such log line within ${ms} ms`))), ms)
      const done = (settle: () => void) => {
        clearTimeout(timer)
        waiters.delete(check)
        settle()
      }
      waiters.add(check)
      check()
    })
  return { child, logs, stderr, exited, waitForLog }
}

const running = new Set<ChildProcess>()

/** Kills whatever a test left running (by the PIDs this module started). */
export const stopAll = () => {
  for (const child of running) child.kill("SIGKILL")
}

/** The load generator (test/support/loadClient.ts) as a separate process. */
export const startLoadClient = (options: {
  readonly port: number
  readonly workers: number
  readonly maxMs: number
  readonly method: "sayHello" | "listUsers"
  readonly deadlineMs: number
}) => startService({ ARGS: JSON.stringify(options) }, fileURLToPath(new URL("./loadClient.ts", import.meta.url)))

/** The messages of every log line so far, in order. */
export const messagesOf = (service: ServiceProcess): ReadonlyArray<string> =>
  service.logs.map((line) => String(line.message))

/** The port in a "gRPC server listening" line's address ("127.0.0.1:43121"). */
export const portOf = (line: Record<string, unknown>): number => Number(String(line.address).split(":").at(-1))

/** Matches a log line by its message. */
export const message =
  (text: string) =>
  (line: Record<string, unknown>): boolean =>
    line.message === text

/** The service process on a database (the suite's, or a proxy in front of it), on free ports, with `env` on top. */
export const serviceOn = (dsn: string, env: Record<string, string> = {}) =>
  startService({
    GRPC_SERVER_URL: "127.0.0.1:0",
    HTTP_SERVER_URL: "127.0.0.1:0",
    DATABASE_DSN: dsn,
    DATABASE_MIGRATE: "false",
    ...env
  })

/**
 * Runs one of the repository's scripts (scripts/hello.ts, ...) as `npm run` does (tsx), in `cwd` with only `env`
 * (and PATH), to its end or at most `ms`: its exit code (null when killed at the bound) and output.
 */
export const runScript = (
  script: string,
  args: ReadonlyArray<string>,
  options: { readonly env: Record<string, string>; readonly cwd: string; readonly ms: number }
) =>
  new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--import", TSX, fileURLToPath(new URL(`../../${script}`, import.meta.url)), ...args],
      { cwd: options.cwd, env: { PATH: process.env.PATH ?? "", ...options.env }, timeout: options.ms },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
    )
  })
