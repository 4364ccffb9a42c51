import { randomBytes } from "node:crypto"
import { Duration, Effect, Layer, Option } from "effect"
import { inject } from "vitest"
import { HealthChecksLive } from "../../src/adapters/health/HealthChecks.js"
import { RedisUserCacheLive, type RedisUserCacheOptions } from "../../src/adapters/redis/RedisUserCache.js"

/** Adapter options for a redis:// URL, with a key prefix of the suite's own so suites never see each other. */
export const redisOptions = (url: string, overrides: Partial<RedisUserCacheOptions> = {}): RedisUserCacheOptions => {
  const parsed = new URL(url)
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    password: Option.none(),
    db: 0,
    connectTimeout: Duration.seconds(2),
    socketTimeout: Duration.seconds(3),
    commandTimeout: Duration.millis(200),
    ttl: Duration.seconds(60),
    ttlJitter: 0.1,
    negativeTtl: Duration.zero,
    keyPrefix: `test:${process.pid}:${randomBytes(3).toString("hex")}:`,
    breakerThreshold: 5,
    breakerResetAfter: Duration.seconds(2),
    ...overrides
  }
}

/** The harness Redis (see globalSetup); a suite that needs it fails with the reason when there is none. */
export const harnessRedisUrl = Effect.suspend(() => {
  const url = inject("redisUrl")
  return url === "" ? Effect.dieMessage(inject("redisProblem")) : Effect.succeed(url)
})

/** The Redis adapter on the harness Redis, with the health-check registry it registers into. */
export const HarnessRedisCache = (overrides: Partial<RedisUserCacheOptions> = {}) =>
  Layer.unwrapEffect(Effect.map(harnessRedisUrl, (url) => RedisUserCacheLive(redisOptions(url, overrides)))).pipe(
    Layer.provideMerge(HealthChecksLive)
  )
