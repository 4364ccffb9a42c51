import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, sep } from "node:path"
import { Worker } from "node:worker_threads"

// Node built-ins only: the entry point imports this before anything else, to start the embedded database while
// the rest of the service loads (see prestartEmbeddedPostgres).

/** PGlite runs one backend: a few connections are enough, and a pool must not exceed what the socket accepts. */
export const EMBEDDED_MAX_CONNECTIONS = 4

export interface EmbeddedPostgresWorkerOptions {
  /** Keeps the data across restarts; in memory when undefined. */
  readonly dataDir: string | undefined
  /** Connections the socket accepts. The pool must not be larger: extra connections are refused, not queued. */
  readonly maxConnections: number
  /** Where the snapshot of a fresh database is kept; by default beside PGlite in node_modules/.cache. */
  readonly snapshotFile?: string
}

export interface EmbeddedPostgresHandle {
  readonly options: EmbeddedPostgresWorkerOptions
  /** `host:port` of the wire-protocol socket, once the database answers. */
  readonly address: Promise<string>
  /** Stops the socket and the database (bounded), then the thread. */
  readonly close: () => Promise<void>
}

/**
 * Postgres settings added to PGlite's own start parameters (PGlite.defaultStartParams) for a development database
 * in this process: shared_buffers at 16 MB instead of 128 MB (about 100 MB less memory; it holds a few rows).
 */
const EXTRA_START_PARAMS = ["-c", "shared_buffers=16MB"]

/**
 * Runs in the worker thread (CommonJS, packages passed as resolved paths, so it loads the same under node, tsx
 * and vitest). A fresh database (in memory, or an empty data directory) starts from a snapshot of a just
 * initialised one, taken once per PGlite version: initdb is most of a cold start (about 2.5 s of 3.4 s here).
 * The snapshot holds nothing but initdb's output: it is written before the socket opens.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const fs = require("node:fs")
const path = require("node:path")
const { PGlite } = require(workerData.pglite)
const { PGLiteSocketServer } = require(workerData.socket)
const isFresh = (dir) => dir === undefined || !fs.existsSync(dir) || fs.readdirSync(dir).length === 0
const readSnapshot = (file) => { try { return new Blob([fs.readFileSync(file)]) } catch { return undefined } }
const writeSnapshot = async (db, file) => {
  try {
    const data = Buffer.from(await (await db.dumpDataDir("gzip")).arrayBuffer())
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const temporary = file + "." + process.pid + "." + Date.now() + ".tmp"
    fs.writeFileSync(temporary, data)
    fs.renameSync(temporary, file)
  } catch {
    // A cache: a read-only or full disk only means the next start runs initdb again.
  }
}
const main = async () => {
  const { dataDir, snapshot, maxConnections, extraStartParams } = workerData
  const startParams = [...PGlite.defaultStartParams, ...extraStartParams]
  const fresh = isFresh(dataDir)
  const loadDataDir = fresh ? readSnapshot(snapshot) : undefined
  let db
  let initialised = loadDataDir === undefined
  try {
    db = await PGlite.create(dataDir, { startParams, ...(loadDataDir ? { loadDataDir } : {}) })
  } catch (error) {
    if (loadDataDir === undefined) throw error
    // A snapshot this PGlite cannot load (another build of the same version): dropped, and initdb runs instead.
    fs.rmSync(snapshot, { force: true })
    if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true })
    db = await PGlite.create(dataDir, { startParams })
    initialised = true
  }
  if (fresh && initialised && dataDir === undefined) await writeSnapshot(db, snapshot)
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections })
  await server.start()
  parentPort.on("message", (message) => {
    if (message !== "close") return
    server.stop().catch(() => undefined).then(() => db.close()).catch(() => undefined).then(() => parentPort.postMessage({ type: "closed" }))
  })
  parentPort.postMessage({ type: "ready", address: server.getServerConn() })
}
main().catch((error) => parentPort.postMessage({ type: "failed", error: String((error && error.stack) || error) }))
`

const require = createRequire(import.meta.url)

/** node_modules/.cache/effect-microservice/pglite-<version>-<hash of the parameters>.tgz, beside PGlite. */
const snapshotPath = (pglite: string): string => {
  const root = pglite.slice(0, pglite.lastIndexOf(`${sep}node_modules${sep}`) + `${sep}node_modules`.length)
  const manifest: unknown = JSON.parse(readFileSync(join(dirname(dirname(pglite)), "package.json"), "utf8"))
  const version =
    typeof manifest === "object" && manifest !== null && "version" in manifest ? String(manifest.version) : "unknown"
  const key = createHash("sha256").update(WORKER_SOURCE).digest("hex").slice(0, 12)
  return join(root, ".cache", "effect-microservice", `pglite-${version}-${key}.tgz`)
}

/**
 * Starts PGlite (Postgres compiled to WebAssembly) in a worker thread, behind a Postgres wire-protocol socket
 * on a free loopback port. Its queries run on the worker's thread, so a slow statement does not stall the
 * service's event loop.
 */
export const launchEmbeddedPostgres = (options: EmbeddedPostgresWorkerOptions): EmbeddedPostgresHandle => {
  const pglite = require.resolve("@electric-sql/pglite")
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      pglite,
      socket: require.resolve("@electric-sql/pglite-socket"),
      snapshot: options.snapshotFile ?? snapshotPath(pglite),
      dataDir: options.dataDir,
      maxConnections: options.maxConnections,
      extraStartParams: EXTRA_START_PARAMS
    }
  })
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()))
  const address = new Promise<string>((resolve, reject) => {
    worker.on("message", (message: { type: string; address?: string; error?: string }) => {
      if (message.type === "ready" && message.address !== undefined) resolve(message.address)
      if (message.type === "failed") reject(new Error(`The embedded Postgres did not start: ${message.error}`))
    })
    worker.once("error", reject)
    void exited.then(() => reject(new Error("The embedded Postgres thread exited")))
  })
  // Observed here so that a failure nobody awaits yet (a prestart) is not an unhandled rejection.
  address.catch(() => undefined)
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => {
        worker.on("message", (message: { type: string }) => {
          if (message.type === "closed") resolve()
        })
      })
      worker.postMessage("close")
      // PGlite closes in milliseconds; a thread that does not answer (it failed, or is stuck) is stopped anyway.
      await Promise.race([closed, exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())])
      await worker.terminate()
    })()
    return closing
  }
  return { options, address, close }
}

let prestarted: EmbeddedPostgresHandle | undefined

/**
 * Starts the embedded database before the service's modules load (about a second each, in parallel on two
 * cores). A guess from the environment: `takePrestarted` hands it to the database adapter when the
 * configuration agrees, and closes it when it does not.
 */
export const prestartEmbeddedPostgres = (options: EmbeddedPostgresWorkerOptions): void => {
  prestarted ??= launchEmbeddedPostgres(options)
}

/** The prestarted database if it was started with these options; any other is closed. */
export const takePrestarted = (
  options: EmbeddedPostgresWorkerOptions | undefined
): EmbeddedPostgresHandle | undefined => {
  const handle = prestarted
  prestarted = undefined
  if (handle === undefined) return undefined
  if (
    options !== undefined &&
    handle.options.dataDir === options.dataDir &&
    handle.options.maxConnections === options.maxConnections
  )
    return handle
  void handle.close()
  return undefined
}
