import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SignJWT } from "jose"
import { captureLogs } from "../support/logs.js"
import { httpPort, rpcClient, rpcClientWith } from "../support/rpc.js"
import { serviceOnHarness } from "../support/service.js"

// The HTTP front doors (REST at /v1, @effect/rpc at /rpc) under gRPC's policy: auth, admission and metrics.

const SECRET = "test-secret-at-least-32-bytes-long-0123456789"

const bearer = (scope: string) =>
  Effect.promise(() =>
    new SignJWT({ scope })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("edge-test")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(SECRET))
      .then((token) => `Bearer ${token}`)
  )

const rest = (path: string, init: RequestInit = {}) =>
  Effect.flatMap(httpPort, (port) =>
    Effect.promise(async () => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, init)
      const text = await response.text()
      const body: unknown = text === "" ? null : JSON.parse(text)
      return { status: response.status, body }
    })
  )

const scrape = Effect.flatMap(httpPort, (port) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()))
)

/** The value of one sample, `name{labels}`, or 0 when absent. */
const sample = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

const logs = captureLogs()
const Authenticated = serviceOnHarness(Effect.succeed({ AUTH_JWT_SECRET: SECRET })).pipe(Layer.provide(logs.layer))

layer(Authenticated, { excludeTestServices: true, timeout: "60 seconds" })("HTTP front doors with auth on", (it) => {
  it.scoped("RPC: no token is Unauthenticated, a read token reads, a write needs the write scope", () =>
    Effect.gen(function* () {
      // Only this test's lines: the other tests of the suite log calls to the same methods.
      const logged = logs.entries.length
      const rpc = yield* rpcClient
      const anonymous = yield* Effect.flip(rpc.SayHello({ user_id: 1n }))
      assert.strictEqual(anonymous._tag, "Unauthenticated")
      const reader = yield* rpcClientWith(yield* bearer("users:read"))
      assert.strictEqual((yield* reader.SayHello({ user_id: 1n })).message, "Hello, Alice!")
      const refused = yield* Effect.flip(reader.CreateUser({ name: "Eve", email: "eve@example.com" }))
      assert.strictEqual(refused._tag, "PermissionDenied")
      const writerToken = yield* bearer("users:write")
      const writer = yield* rpcClientWith(writerToken)
      const created = yield* writer.CreateUser({ name: "Wanda", email: "wanda@example.com" })
      assert.strictEqual(created.name, "Wanda")
      // One log line per call, with its code and subject, and never the token.
      const lines = logs.entries.slice(logged).filter((e) => e.method === "/UsersRpc/CreateUser")
      assert.deepStrictEqual(
        lines.map((e) => [e.message, e.code, e.subject]),
        [
          ["RPC request failed", "PERMISSION_DENIED", undefined],
          ["RPC request completed", "OK", "edge-test"]
        ]
      )
      assert.notInclude(JSON.stringify(logs.entries), writerToken.slice(7))
    })
  )

  it.scoped("RPC: the caller's identity comes from the HTTP request only, never from a message's own headers", () =>
    Effect.gen(function* () {
      const writerToken = yield* bearer("users:write")
      // A message header alone does not authenticate...
      const anonymous = yield* rpcClient
      const spoofed = yield* Effect.flip(
        anonymous.SayHello({ user_id: 1n }, { headers: { authorization: writerToken } })
      )
      assert.strictEqual(spoofed._tag, "Unauthenticated")
      // ...nor raise a reader's rights for one call.
      const reader = yield* rpcClientWith(yield* bearer("users:read"))
      const raised = yield* Effect.flip(
        reader.CreateUser(
          { name: "Mallory", email: "mallory@example.com" },
          { headers: { authorization: writerToken } }
        )
      )
      assert.strictEqual(raised._tag, "PermissionDenied")
    })
  )

  it.scoped("one log line per HTTP request: method, route, status, duration, request id, caller; never the token", () =>
    Effect.gen(function* () {
      const token = yield* bearer("users:read")
      const port = yield* httpPort
      const answer = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/v1/users/1`, {
          headers: { authorization: token, "x-request-id": "req-line-1" }
        })
      )
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(answer.headers.get("x-request-id"), "req-line-1")
      yield* rest("/v1/users/2", { headers: { "x-request-id": "req-line-2" } })
      const reader = yield* rpcClientWith(token)
      yield* reader.GetUser({ id: 1n })
      const lines = logs.entries.filter((e) => e.message === "HTTP request completed")
      const first = lines.find((e) => e.request_id === "req-line-1")
      assert.deepInclude(first, { method: "GET", route: "/v1/users/{id}", status: 200, subject: "edge-test" })
      assert.isNumber(first?.duration_ms)
      assert.isString(first?.peer)
      const refused = lines.find((e) => e.request_id === "req-line-2")
      assert.deepInclude(refused, { status: 401 })
      assert.notProperty(refused, "subject")
      // The RPC call's own line and its HTTP request's line share the request id and name the caller.
      const rpcLine = logs.entries.findLast((e) => e.method === "/UsersRpc/GetUser")
      const rpcHttp = lines.findLast((e) => e.route === "/rpc")
      assert.isString(rpcLine?.request_id)
      assert.strictEqual(rpcLine?.request_id, rpcHttp?.request_id)
      assert.strictEqual(rpcHttp?.subject, "edge-test")
      assert.isString(rpcLine?.caller)
      assert.notInclude(JSON.stringify(logs.entries), token.slice(7))
    })
  )

  it.scoped("REST: 401 without a token, 403 for a write without the write scope, 200/201 with them", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* rest("/v1/users/1"), {
        status: 401,
        body: { _tag: "Unauthorized", message: "unauthenticated: missing bearer token (authorization metadata)" }
      })
      const reader = { authorization: yield* bearer("users:read") }
      assert.strictEqual((yield* rest("/v1/users/1", { headers: reader })).status, 200)
      const create = (headers: Record<string, string>) =>
        rest("/v1/users", {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify({ name: "Rest", email: "rest.writer@example.com" })
        })
      assert.strictEqual((yield* create(reader)).status, 403)
      assert.strictEqual((yield* create({ authorization: yield* bearer("users:write") })).status, 201)
      // The docs stay public.
      assert.strictEqual((yield* rest("/openapi.json")).status, 200)
    })
  )

  it.scoped("RPC calls are counted in the gRPC request metrics, by call and status", () =>
    Effect.gen(function* () {
      // The counters move by exactly this test's calls, whatever the other tests of the suite sent before.
      const before = yield* scrape
      const rpc = yield* rpcClient
      yield* Effect.flip(rpc.GetUser({ id: 1n }))
      yield* (yield* rpcClientWith(yield* bearer("users:read"))).GetUser({ id: 1n })
      assert.strictEqual((yield* rest("/v1/users/1")).status, 401)
      const after = yield* scrape
      const delta = (series: string) => sample(after, series) - sample(before, series)
      assert.strictEqual(delta('grpc_requests_total{method="/UsersRpc/GetUser",status="UNAUTHENTICATED"}'), 1)
      assert.strictEqual(delta('grpc_requests_total{method="/UsersRpc/GetUser",status="OK"}'), 1)
      assert.strictEqual(delta('http_requests_total{method="GET",route="/v1/users/{id}",status="401"}'), 1)
    })
  )
})

const Limited = serviceOnHarness(Effect.succeed({ RATE_LIMIT_RPS: "1", RATE_LIMIT_BURST: "2" }))

layer(Limited, { excludeTestServices: true, timeout: "60 seconds" })(
  "HTTP front doors under admission control",
  (it) => {
    it.scoped("beyond the per-caller rate, RPC fails with RateLimited and REST answers 429", () =>
      Effect.gen(function* () {
        const rpc = yield* rpcClient
        const outcomes = yield* Effect.forEach(Array.from({ length: 6 }), () =>
          Effect.match(rpc.GetUser({ id: 1n }), { onFailure: (e) => e._tag, onSuccess: () => "OK" })
        )
        assert.include(outcomes, "OK")
        assert.include(outcomes, "RateLimited")
        const statuses = yield* Effect.forEach(Array.from({ length: 6 }), () =>
          Effect.map(rest("/v1/users/1"), (r) => r.status)
        )
        assert.include(statuses, 429)
      })
    )
  }
)
