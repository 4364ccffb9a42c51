import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { afterAll, describe, expect, it } from "vitest"
import { launchEmbeddedPostgres } from "../../src/adapters/pglite/EmbeddedPostgresWorker.js"

const dir = mkdtempSync(join(tmpdir(), "embedded-postgres-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Starts one, runs a query through its socket, stops it. */
const startAndQuery = async (snapshotFile: string) => {
  const database = launchEmbeddedPostgres({ dataDir: undefined, maxConnections: 1, snapshotFile })
  try {
    const client = new pg.Client({
      connectionString: `postgres://postgres:postgres@${await database.address}/postgres`
    })
    await client.connect()
    const { rows } = await client.query<{ answer: number }>("SELECT 41 + 1 AS answer")
    await client.end()
    return rows[0]?.answer
  } finally {
    await database.close()
  }
}

const isGzip = (file: string) => {
  const head = readFileSync(file).subarray(0, 2)
  return head[0] === 0x1f && head[1] === 0x8b
}

describe("the embedded Postgres (PGlite in a worker thread)", { timeout: 120_000 }, () => {
  it("takes a snapshot of a fresh database at its first start, and starts from it next time", async () => {
    const snapshot = join(dir, "fresh.tgz")
    expect(await startAndQuery(snapshot)).toBe(42)
    expect(existsSync(snapshot) && isGzip(snapshot)).toBe(true)
    expect(await startAndQuery(snapshot)).toBe(42)
  })

  it("starts even from a snapshot it cannot load (it runs initdb and replaces the snapshot)", async () => {
    const snapshot = join(dir, "broken.tgz")
    writeFileSync(snapshot, "not a tarball")
    expect(await startAndQuery(snapshot)).toBe(42)
    expect(isGzip(snapshot)).toBe(true)
  })
})
