import { Context, Effect, Layer } from "effect"
import { Redis, type RedisOptions } from "ioredis"
import { type RedisServer, startRedisServer } from "./RedisServer.js"

/**
 * A redis-server of the suite's own (its keys and commands are exactly the service's; it can be stopped and frozen)
 * with a client of the test's on it. Both are closed with the layer, the server by its PID.
 */
export class OwnRedis extends Context.Tag("test/OwnRedis")<
  OwnRedis,
  { readonly server: RedisServer; readonly client: Redis }
>() {}

/** `clientOptions` go to the test's client (for example a fast retryStrategy for suites that stop the server). */
export const OwnRedisLive = (clientOptions: RedisOptions = {}) =>
  Layer.scoped(
    OwnRedis,
    Effect.gen(function* () {
      const server = yield* Effect.acquireRelease(Effect.promise(startRedisServer), (s) => Effect.promise(s.close))
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(server.url, { maxRetriesPerRequest: 1, ...clientOptions })),
        (c) => Effect.sync(() => c.disconnect())
      )
      // While the server is stopped or frozen the client's errors are expected: the test reads outcomes, not these.
      client.on("error", () => {})
      return { server, client }
    })
  )
