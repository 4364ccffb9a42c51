import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { tryContainer } from "./containers.js"

/** Where the integration suites get Postgres. `embedded`: each suite starts its own PGlite. */
export type PostgresSource =
  | {
      readonly kind: "env" | "testcontainers" | "local"
      readonly adminUrl: string
      readonly stop?: () => Promise<void>
    }
  | { readonly kind: "embedded" }

export const LOCAL_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"

/** Connects once and runs `SELECT 1`, bounded, so a dead or wrong server fails in about a second. */
export const probePostgres = (url: string): Promise<string | undefined> =>
  Effect.runPromise(
    Effect.scoped(
      Layer.build(PgClient.layer({ url: Redacted.make(url), connectTimeout: "1 second", maxConnections: 1 }))
    ).pipe(
      Effect.as(undefined),
      Effect.catchAllCause((cause) => Effect.succeed(String(cause).split("\n")[0]))
    )
  )

const withoutPassword = (url: string): string => url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")

/**
 * TEST_DATABASE_URL, else a testcontainers Postgres when a container engine answers, else 127.0.0.1:5432 when a
 * server answers there, else the embedded Postgres. Says which one it took, and why the others were passed over.
 */
export const choosePostgresSource = async (log: (line: string) => void): Promise<PostgresSource> => {
  // TEST_POSTGRES_SOURCE=embedded (or local) skips the search, e.g. to run the suites on PGlite on purpose.
  const forced = process.env.TEST_POSTGRES_SOURCE
  if (forced === "embedded") {
    log("Postgres for tests: embedded PGlite, one per suite (TEST_POSTGRES_SOURCE=embedded)")
    return { kind: "embedded" }
  }
  if (forced === "local") {
    const problem = await probePostgres(LOCAL_POSTGRES_URL)
    if (problem !== undefined)
      throw new Error(`TEST_POSTGRES_SOURCE=local but 127.0.0.1:5432 does not answer: ${problem}`)
    log("Postgres for tests: local server at 127.0.0.1:5432 (TEST_POSTGRES_SOURCE=local)")
    return { kind: "local", adminUrl: LOCAL_POSTGRES_URL }
  }
  if (forced !== undefined && forced !== "")
    throw new Error(`TEST_POSTGRES_SOURCE must be embedded or local, not ${forced}`)
  const fromEnv = process.env.TEST_DATABASE_URL
  if (fromEnv !== undefined && fromEnv !== "") {
    const problem = await probePostgres(fromEnv)
    if (problem !== undefined)
      throw new Error(`TEST_DATABASE_URL (${withoutPassword(fromEnv)}) does not answer: ${problem}`)
    log(`Postgres for tests: TEST_DATABASE_URL (${withoutPassword(fromEnv)})`)
    return { kind: "env", adminUrl: fromEnv }
  }
  const skipped: Array<string> = ["TEST_DATABASE_URL is not set"]
  const container = await tryContainer(async () => {
    const { PostgreSqlContainer } = await import("@testcontainers/postgresql")
    return new PostgreSqlContainer("postgres:15-alpine").start()
  })
  if ("started" in container) {
    log("Postgres for tests: testcontainers (postgres:15-alpine)")
    const started = container.started
    return {
      kind: "testcontainers",
      adminUrl: started.getConnectionUri(),
      stop: async () => void (await started.stop())
    }
  }
  skipped.push(container.problem)
  const problem = await probePostgres(LOCAL_POSTGRES_URL)
  if (problem === undefined) {
    log(`Postgres for tests: local server at 127.0.0.1:5432 (${skipped.join("; ")})`)
    return { kind: "local", adminUrl: LOCAL_POSTGRES_URL }
  }
  skipped.push(`127.0.0.1:5432: ${problem}`)
  log(`Postgres for tests: embedded PGlite, one per suite (${skipped.join("; ")})`)
  return { kind: "embedded" }
}
