import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { pollUntil } from "../support/poll.js"
import { httpPort, rpcClient } from "../support/rpc.js"
import { PostgresProxy, serviceBehindPostgresProxy } from "../support/service.js"
import { recordSpans } from "../support/spans.js"

// REST and @effect/rpc when Postgres fails: the 503 and 504 rows of the error table, as each front door speaks
// them; and a REST caller's trace continued on the server.

const spans = recordSpans()
const Service = serviceBehindPostgresProxy({
  DATABASE_CONNECT_TIMEOUT: "2s",
  REQUEST_TIMEOUT: "300ms",
  DATABASE_BREAKER_RESET: "200ms"
}).pipe(Layer.provide(spans.layer))

const rest = (path: string, headers: Record<string, string> = {}) =>
  Effect.flatMap(httpPort, (port) =>
    Effect.promise(async () => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers })
      const body: unknown = await response.json()
      return { status: response.status, body }
    })
  )

/** A user id nobody has read: every call for it needs Postgres (no cache entry). */
let uncached = 200_000n
const fresh = () => uncached++

const untilServing = pollUntil(
  Effect.map(rest(`/v1/users/${fresh()}`), (r) => r.status),
  (status) => status === 404,
  "5 seconds"
)

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("REST and RPC when Postgres fails", (it) => {
  it.scoped("Postgres refusing: REST 503, RPC DependencyUnavailable without its cause", () =>
    Effect.gen(function* () {
      const proxy = yield* PostgresProxy
      const rpc = yield* rpcClient
      yield* untilServing
      proxy.setMode("refuse")
      const answer = yield* rest(`/v1/users/${fresh()}`)
      assert.strictEqual(answer.status, 503)
      assert.deepStrictEqual(answer.body, {
        _tag: "ServiceUnavailable",
        message: "database unavailable (findByIds)"
      })
      const error = yield* Effect.flip(rpc.GetUser({ id: fresh() }))
      assert.strictEqual(error._tag, "DependencyUnavailable")
      if (error._tag === "DependencyUnavailable") {
        assert.strictEqual(error.dependency, "database")
        assert.isUndefined(error.cause)
      }
      proxy.setMode("forward")
      yield* untilServing
    })
  )

  it.scoped("Postgres frozen: REST 504, RPC DeadlineExceeded, after REQUEST_TIMEOUT", () =>
    Effect.gen(function* () {
      const proxy = yield* PostgresProxy
      const rpc = yield* rpcClient
      yield* untilServing
      proxy.setMode("blackhole")
      const answer = yield* rest(`/v1/users/${fresh()}`)
      assert.deepStrictEqual(answer, {
        status: 504,
        body: { _tag: "GatewayTimeout", message: "deadline exceeded after 300 ms" }
      })
      const error = yield* Effect.flip(rpc.GetUser({ id: fresh() }))
      assert.strictEqual(error._tag, "DeadlineExceeded")
      proxy.setMode("forward")
      yield* untilServing
    })
  )

  it.scoped("a REST caller's trace (traceparent) continues on the server", () =>
    Effect.gen(function* () {
      yield* untilServing
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
      const answer = yield* rest("/v1/users/1", { traceparent: `00-${traceId}-00f067aa0ba902b7-01` })
      assert.strictEqual(answer.status, 200)
      assert.isTrue(spans.traces.some((s) => s.name === "Users.get" && s.traceId === traceId))
    })
  )
})
