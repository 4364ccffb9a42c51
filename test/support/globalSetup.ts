import type { TestProject } from "vitest/node"
import { bundleService } from "../../scripts/bundle.mjs"
import { choosePostgresSource } from "./PostgresSource.js"
import { chooseRedisSource } from "./RedisSource.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** Empty when the suites use the embedded Postgres. */
    postgresAdminUrl: string
    postgresSource: string
    /** Empty when no Redis could be had; then `redisProblem` says why. */
    redisUrl: string
    redisProblem: string
  }
}

export default async function setup(project: TestProject) {
  // The suites that start the service as a process run its bundle: built here once, not by each of them at once.
  await bundleService()
  const source = await choosePostgresSource((line) => console.log(`[test harness] ${line}`))
  if (source.kind === "embedded") {
    console.log(
      "[test harness] Skipping the tests that need a Postgres server (a cancelled call's query leaving pg_stat_activity, statement_timeout): PGlite runs a single backend. Set TEST_DATABASE_URL to run them."
    )
  }
  project.provide("postgresSource", source.kind)
  project.provide("postgresAdminUrl", source.kind === "embedded" ? "" : source.adminUrl)
  const redis = await chooseRedisSource((line) => console.log(`[test harness] ${line}`))
  project.provide("redisUrl", "url" in redis ? redis.url : "")
  project.provide("redisProblem", "problem" in redis ? redis.problem : "")
  return async () => {
    if (source.kind !== "embedded") await source.stop?.()
    if ("stop" in redis) await redis.stop?.()
  }
}
