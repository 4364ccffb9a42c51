import { Redis } from "ioredis"
import { tryContainer } from "./containers.js"

export const LOCAL_REDIS_URL = "redis://127.0.0.1:6379"

/** PING with a short bound; the reason it failed, or undefined when Redis answered. */
export const probeRedis = async (url: string): Promise<string | undefined> => {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null
  })
  client.on("error", () => {})
  try {
    await client.connect()
    await client.ping()
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    client.disconnect()
  }
}

/**
 * TEST_REDIS_URL, else a testcontainers Redis when a container engine answers, else 127.0.0.1:6379 when it
 * answers. There is no embedded fallback: the Redis suites then fail with `problem`, which names the three ways.
 */
export const chooseRedisSource = async (
  log: (line: string) => void
): Promise<{ url: string; stop?: () => Promise<void> } | { problem: string }> => {
  const fromEnv = process.env.TEST_REDIS_URL
  if (fromEnv !== undefined && fromEnv !== "") {
    const problem = await probeRedis(fromEnv)
    if (problem !== undefined) return { problem: `TEST_REDIS_URL (${fromEnv}) does not answer: ${problem}` }
    log(`Redis for tests: TEST_REDIS_URL (${fromEnv})`)
    return { url: fromEnv }
  }
  const tried: Array<string> = ["TEST_REDIS_URL is not set"]
  const container = await tryContainer(async () => {
    const { RedisContainer } = await import("@testcontainers/redis")
    return new RedisContainer("redis:7-alpine").start()
  })
  if ("started" in container) {
    log("Redis for tests: testcontainers (redis:7-alpine)")
    const started = container.started
    return { url: started.getConnectionUrl(), stop: async () => void (await started.stop()) }
  }
  tried.push(container.problem)
  const problem = await probeRedis(LOCAL_REDIS_URL)
  if (problem === undefined) {
    log(`Redis for tests: local server at 127.0.0.1:6379 (${tried.join("; ")})`)
    return { url: LOCAL_REDIS_URL }
  }
  tried.push(`127.0.0.1:6379: ${problem}`)
  const message = `No Redis for the Redis suites. Set TEST_REDIS_URL, or run a Docker engine for testcontainers, or start Redis on 127.0.0.1:6379 (${tried.join("; ")})`
  log(message)
  return { problem: message }
}
