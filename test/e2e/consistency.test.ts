import { randomBytes, randomUUID } from "node:crypto"
import { HttpServer } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { assert, layer } from "@effect/vitest"
import { Metadata, type ServiceError, status } from "@grpc/grpc-js"
import { Context, Duration, Effect, Layer } from "effect"
import { Redis } from "ioredis"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import type { User as WireUser } from "../../src/adapters/grpc/generated/users/v1/users.js"
import { type FaultProxy, startFaultProxy } from "../support/FaultProxy.js"
import { type Clients, clientsFor, unary } from "../support/grpc.js"
import { pollUntil } from "../support/poll.js"
import { httpPort, rpcClient } from "../support/rpc.js"
import { PostgresProxy, serviceBehindPostgresProxy } from "../support/service.js"
import { harnessRedisUrl } from "../support/TestRedis.js"

// Issue 15: every answer is true. A write invalidates the cache when it has really ended, even when its caller has
// gone or Redis was away for a while; a create clears a cached "absent"; writes with idempotency keys are applied
// exactly once under connection resets and client retries. Real Postgres and Redis, each behind a fault proxy.

/** The harness Redis behind a fault proxy of this suite's own, with the key prefix the service uses. */
class RedisBehindProxy extends Context.Tag("test/RedisBehindProxy")<
  RedisBehindProxy,
  { readonly proxy: FaultProxy; readonly direct: Redis; readonly prefix: string }
>() {}

const RedisBehindProxyLive = Layer.scoped(
  RedisBehindProxy,
  Effect.gen(function* () {
    const url = new URL(yield* harnessRedisUrl)
    const target = { host: url.hostname, port: Number(url.port || 6379) }
    const proxy = yield* Effect.acquireRelease(
      Effect.promise(() => startFaultProxy(target)),
      (p) => Effect.promise(p.close)
    )
    const direct = yield* Effect.acquireRelease(
      Effect.sync(() => new Redis({ ...target, maxRetriesPerRequest: 1 })),
      (client) => Effect.sync(() => client.disconnect())
    )
    direct.on("error", () => {})
    return { proxy, direct, prefix: `test:${process.pid}:${randomBytes(3).toString("hex")}:` }
  })
)

const httpGet = (path: string) =>
  Effect.flatMap(HttpServer.HttpServer, (server) =>
    Effect.promise(async () => {
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      const response = await fetch(`http://127.0.0.1:${port}${path}`)
      return { status: response.status, text: await response.text() }
    })
  )

const metric = (line: string) =>
  Effect.map(httpGet("/metrics"), ({ text }) =>
    text
      .split("\n")
      .filter((l) => l.startsWith(line))
      .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0)
  )

const grpc = Effect.flatMap(GrpcServer, (server) => clientsFor(server.port))

const options = (ms: number, key?: string) => {
  const metadata = new Metadata()
  if (key !== undefined) metadata.set("idempotency-key", key)
  return [metadata, { deadline: Date.now() + ms }] as const
}

const getUser = (clients: Clients, id: bigint) =>
  unary<{ user?: WireUser | undefined }>((cb) => clients.users.getUser({ id }, ...options(5000), cb)).pipe(
    Effect.map((response) => response.user?.name ?? "")
  )

const codeOf = <A>(call: Effect.Effect<A, ServiceError>) =>
  Effect.match(call, { onSuccess: () => status.OK, onFailure: (error) => error.code })

/** The committed name of a user, read straight from Postgres (not through the proxy or the service). */
const storedName = (id: bigint) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ name: string }>`SELECT name FROM users WHERE id = ${id}`.pipe(
      Effect.map((rows) => rows[0]?.name ?? ""),
      Effect.orDie
    )
  )

/**
 * Reads user `id` through the service for `forMs` from `from` on, and the names it answered after `from + graceMs`
 * that differ from `expected`: the stale reads beyond the bound.
 */
const staleReadsAfter = (clients: Clients, id: bigint, expected: string, from: number, graceMs: number, forMs = 2000) =>
  Effect.gen(function* () {
    const stale: Array<{ readonly at: number; readonly name: string }> = []
    let reads = 0
    while (performance.now() < from + graceMs + forMs) {
      const started = performance.now()
      const name = yield* Effect.orElseSucceed(getUser(clients, id), () => expected)
      reads++
      if (started > from + graceMs && name !== expected) stale.push({ at: Math.round(started - from), name })
    }
    return { stale, reads }
  })

const ServiceWithRedis = Layer.unwrapEffect(
  Effect.map(RedisBehindProxy, ({ proxy, prefix }) =>
    serviceBehindPostgresProxy({
      REDIS_ADDR: `127.0.0.1:${proxy.port}`,
      REDIS_KEY_PREFIX: prefix,
      REDIS_NEGATIVE_TTL: "30s",
      REDIS_BREAKER_RESET: "1s",
      DATABASE_BREAKER_RESET: "300ms"
    })
  )
).pipe(Layer.provideMerge(RedisBehindProxyLive))

layer(ServiceWithRedis, { excludeTestServices: true, timeout: "120 seconds" })("no stale reads after a write", (it) => {
  it.scoped("a write whose caller gave up while Postgres was frozen is invalidated once it commits", () =>
    Effect.gen(function* () {
      const clients = yield* grpc
      const proxy = yield* PostgresProxy
      const id = 1n
      const before = yield* getUser(clients, id)
      assert.strictEqual(yield* getUser(clients, id), before, "cached")
      const renamed = `Frozen ${randomBytes(2).toString("hex")}`

      proxy.setMode("freeze")
      const update = yield* codeOf(
        unary((cb) => clients.users.updateUser({ id, name: renamed }, ...options(400), cb))
      ).pipe(Effect.ensuring(Effect.sync(() => proxy.setMode("forward"))))
      assert.oneOf(
        update,
        [status.DEADLINE_EXCEEDED, status.UNKNOWN],
        "the caller gave up or was told it may have happened"
      )

      // The held UPDATE reaches Postgres now and commits; seen from a connection of the test's own.
      yield* pollUntil(storedName(id), (name) => name === renamed, "10 seconds", "5 millis")
      const committed = performance.now()
      const { stale, reads } = yield* staleReadsAfter(clients, id, renamed, committed, 1000)
      assert.deepStrictEqual(stale, [], `stale reads more than 1 s after the commit (${reads} reads)`)
    })
  )

  it.scoped("invalidations Redis could not take are retried in the background when it is back", () =>
    Effect.gen(function* () {
      const clients = yield* grpc
      const { proxy, direct, prefix } = yield* RedisBehindProxy
      const id = 2n
      yield* getUser(clients, id)
      yield* getUser(clients, id)
      const key = `${prefix}user:${id}`
      assert.isNotNull(yield* Effect.promise(() => direct.get(key)), "the user is cached in Redis")

      proxy.setMode("refuse")
      const renamed = `Blip ${randomBytes(2).toString("hex")}`
      yield* unary((cb) => clients.users.updateUser({ id, name: renamed }, ...options(5000), cb))
      // Redis still holds the old value, which another replica would serve. This one does not.
      assert.isNotNull(yield* Effect.promise(() => direct.get(key)))
      assert.strictEqual(yield* getUser(clients, id), renamed)

      // Redis back: the invalidation lands on its own (no read of this user here to trigger it).
      proxy.setMode("forward")
      const back = performance.now()
      yield* pollUntil(
        Effect.promise(() => direct.get(key)),
        (value) => value === null,
        "5 seconds",
        "10 millis"
      )
      const landedMs = Math.round(performance.now() - back)
      console.log(`invalidation landed ${landedMs} ms after Redis was reachable again`)
      assert.isAtLeast(yield* metric('cache_invalidation_retries_total{cache="redis",outcome="ok"'), 1)
      assert.strictEqual(yield* getUser(clients, id), renamed)
    })
  )

  it.scoped("a create clears a cached 'absent' for the new id, on gRPC, SayHello and REST", () =>
    Effect.gen(function* () {
      const clients = yield* grpc
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ next: string }>`SELECT last_value + 1 AS next FROM users_id_seq`.pipe(Effect.orDie)
      const next = BigInt(row?.next ?? "0")
      const absent = yield* codeOf(getUser(clients, next))
      assert.strictEqual(absent, status.NOT_FOUND)
      assert.strictEqual(yield* codeOf(getUser(clients, next)), status.NOT_FOUND, "the absence is cached now")

      const tag = randomBytes(3).toString("hex")
      const created = yield* unary<{ user?: WireUser | undefined }>((cb) =>
        clients.users.createUser({ name: "Newcomer", email: `new.${tag}@example.com` }, ...options(5000), cb)
      )
      assert.strictEqual(created.user?.id, next)
      assert.strictEqual(yield* getUser(clients, next), "Newcomer")
      const hello = yield* unary<{ message: string }>((cb) =>
        clients.greeter.sayHello({ userId: next }, ...options(5000), cb)
      )
      assert.include(hello.message, "Newcomer")
      assert.strictEqual((yield* httpGet(`/v1/users/${next}`)).status, 200)
    })
  )
})

layer(serviceBehindPostgresProxy({ DATABASE_BREAKER_RESET: "200ms", DATABASE_POOL_MAX_OPEN: "5" }), {
  excludeTestServices: true,
  timeout: "180 seconds"
})("writes safe to retry", (it) => {
  it.scoped("500 keyed creates under two connection resets, retried by the client: each applied exactly once", () =>
    Effect.gen(function* () {
      const clients = yield* grpc
      const proxy = yield* PostgresProxy
      const sql = yield* SqlClient.SqlClient
      const run = randomBytes(3).toString("hex")
      const total = 500
      let done = 0
      const outcomes: Array<{
        readonly email: string
        readonly code: number
        readonly id: bigint | undefined
        readonly attempts: number
        readonly retriedAfter: ReadonlyArray<number>
      }> = []

      // A client that retries what may not have happened, with the same key, as a careful client does.
      const retryable = new Set([status.UNAVAILABLE, status.UNKNOWN, status.DEADLINE_EXCEEDED, status.INTERNAL])
      const create = (i: number) =>
        Effect.gen(function* () {
          const key = randomUUID()
          const email = `retry${i}.${run}@example.com`
          const retriedAfter: Array<number> = []
          for (let attempt = 1; ; attempt++) {
            const result = yield* Effect.either(
              unary<{ user?: WireUser | undefined }>((cb) =>
                clients.users.createUser({ name: `Retry ${i}`, email }, ...options(5000, key), cb)
              )
            )
            if (result._tag === "Right" || !retryable.has(result.left.code) || attempt === 20) {
              done++
              outcomes.push({
                email,
                code: result._tag === "Right" ? status.OK : result.left.code,
                id: result._tag === "Right" ? result.right.user?.id : undefined,
                attempts: attempt,
                retriedAfter
              })
              return
            }
            retriedAfter.push(result.left.code)
            yield* Effect.sleep(Duration.millis(50 * Math.min(attempt, 6)))
          }
        })

      const writers = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: total }, (_, i) => i),
          create,
          { concurrency: 20, discard: true }
        )
      )
      // Two resets while writes are in flight: every open connection to Postgres is cut at once.
      for (const at of [total / 4, (total * 3) / 5]) {
        yield* pollUntil(
          Effect.sync(() => done),
          (n) => n >= at,
          "60 seconds",
          "2 millis"
        )
        proxy.setMode("refuse")
        proxy.setMode("forward")
      }
      yield* Effect.fromFiber(writers)

      const retried = outcomes.filter((o) => o.attempts > 1)
      const failed = outcomes.filter((o) => o.code !== status.OK)
      const rows = yield* sql<{ email: string; id: string }>`
        SELECT email, id FROM users WHERE email LIKE ${`retry%.${run}@example.com`}`.pipe(Effect.orDie)
      const byEmail = new Map(rows.map((row) => [row.email, BigInt(row.id)]))
      // The audit log is best effort (a reset may cut its insert after the write), but never records a write twice.
      const audited = yield* sql<{ n: string }>`
        SELECT count(*) AS n FROM audit_log a JOIN users u ON u.id = a.user_id
        WHERE a.action = 'created' AND u.email LIKE ${`retry%.${run}@example.com`}
        GROUP BY a.user_id HAVING count(*) > 1`.pipe(Effect.orDie)
      console.log(
        `${total} keyed creates: ${retried.length} retried (after ${retried.flatMap((o) => o.retriedAfter).length} ` +
          `failed attempts: ${[...new Set(retried.flatMap((o) => o.retriedAfter))].map((c) => status[c]).join(", ")}), ` +
          `${failed.length} not OK in the end, ${rows.length} rows`
      )
      assert.isAbove(retried.length, 0, "the resets made some writes fail and be retried")
      assert.deepStrictEqual(failed, [], "every write succeeded in the end")
      assert.strictEqual(rows.length, total, "one row per write")
      for (const outcome of outcomes) assert.strictEqual(outcome.id, byEmail.get(outcome.email), outcome.email)
      assert.deepStrictEqual(audited, [], "no write recorded twice in the audit log")
    })
  )

  it.scoped(
    "a retry with the key gets the first result; the key with another request, or a malformed key, is INVALID_ARGUMENT",
    () =>
      Effect.gen(function* () {
        const clients = yield* grpc
        const key = randomUUID()
        const tag = randomBytes(3).toString("hex")
        const first = yield* unary<{ user?: WireUser | undefined }>((cb) =>
          clients.users.createUser({ name: "Once", email: `once.${tag}@example.com` }, ...options(5000, key), cb)
        )
        const again = yield* unary<{ user?: WireUser | undefined }>((cb) =>
          clients.users.createUser({ name: "Once", email: `once.${tag}@example.com` }, ...options(5000, key), cb)
        )
        assert.deepStrictEqual(again.user, first.user, "the retry gets the first result")
        const other = yield* Effect.flip(
          unary((cb) =>
            clients.users.createUser({ name: "Twice", email: `twice.${tag}@example.com` }, ...options(5000, key), cb)
          )
        )
        assert.deepStrictEqual(
          { code: other.code, details: other.details },
          {
            code: status.INVALID_ARGUMENT,
            details: "invalid idempotency_key: was already used for a different request"
          }
        )
        const bad = yield* Effect.flip(
          unary((cb) =>
            clients.users.createUser(
              { name: "Bad", email: `bad.${tag}@example.com` },
              ...options(5000, "has space"),
              cb
            )
          )
        )
        assert.strictEqual(bad.code, status.INVALID_ARGUMENT)
        assert.include(bad.details, "idempotency_key")
      })
  )

  it.scoped("REST (Idempotency-Key header) and /rpc (idempotency_key) replay a keyed write too", () =>
    Effect.gen(function* () {
      const port = yield* httpPort
      const tag = randomBytes(3).toString("hex")
      const key = randomUUID()
      const post = Effect.promise(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/v1/users`, {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": key },
          body: JSON.stringify({ name: "Rest", email: `rest.${tag}@example.com` })
        })
        return { status: response.status, body: await response.text() }
      })
      const first = yield* post
      const second = yield* post
      assert.strictEqual(first.status, 201, first.body)
      assert.deepStrictEqual(second, first)

      const rpc = yield* rpcClient
      const rpcKey = randomUUID()
      const created = yield* rpc.CreateUser({ name: "Rpc", email: `rpc.${tag}@example.com`, idempotency_key: rpcKey })
      const again = yield* rpc.CreateUser({ name: "Rpc", email: `rpc.${tag}@example.com`, idempotency_key: rpcKey })
      assert.deepStrictEqual(again, created)
      yield* rpc.DeleteUser({ id: created.id, idempotency_key: `${rpcKey}-delete` })
      // Deleted already: without the key this would be NotFound; with it, the first answer again.
      yield* rpc.DeleteUser({ id: created.id, idempotency_key: `${rpcKey}-delete` })
      const gone = yield* Effect.flip(rpc.DeleteUser({ id: created.id }))
      assert.strictEqual(gone._tag, "UserNotFound")
    })
  )
})
