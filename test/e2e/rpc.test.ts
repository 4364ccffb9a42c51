import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { httpPort, rpcClient } from "../support/rpc.js"
import { serviceOnHarness } from "../support/service.js"
import { recordSpans } from "../support/spans.js"

const spans = recordSpans()
const Service = serviceOnHarness().pipe(Layer.provide(spans.layer))

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("@effect/rpc front door (POST /rpc)", (it) => {
  it.scoped("SayHello and the user calls, with typed results", () =>
    Effect.gen(function* () {
      const rpc = yield* rpcClient
      const hello = yield* rpc.SayHello({ user_id: 1n })
      assert.deepStrictEqual(hello, {
        message: "Hello, Alice!",
        user: { id: 1n, name: "Alice", email: "alice@example.com" }
      })
      const created = yield* rpc.CreateUser({ name: "Rita", email: "rita@example.com" })
      assert.strictEqual((yield* rpc.GetUser({ id: created.id })).name, "Rita")
      assert.strictEqual((yield* rpc.UpdateUser({ id: created.id, name: "Rita B" })).name, "Rita B")
      const page = yield* rpc.ListUsers({ page_size: 100, page_token: "" })
      assert.isTrue(page.users.some((u) => u.id === created.id))
      yield* rpc.DeleteUser({ id: created.id })
    })
  )

  it.scoped("the use cases' errors arrive as the same tagged errors", () =>
    Effect.gen(function* () {
      const rpc = yield* rpcClient
      const missing = yield* Effect.flip(rpc.SayHello({ user_id: 999n }))
      assert.strictEqual(missing._tag, "UserNotFound")
      assert.strictEqual(missing._tag === "UserNotFound" ? missing.id : 0n, 999n)
      const invalid = yield* Effect.flip(rpc.SayHello({ user_id: 0n }))
      assert.deepStrictEqual(
        invalid._tag === "InvalidArgument" ? { field: invalid.field, reason: invalid.reason } : invalid._tag,
        { field: "user_id", reason: "must be a positive 64-bit integer" }
      )
      const taken = yield* Effect.flip(rpc.CreateUser({ name: "Copy", email: "alice@example.com" }))
      assert.strictEqual(taken._tag, "EmailTaken")
    })
  )

  it.scoped("the server span continues the client's trace", () =>
    Effect.gen(function* () {
      const rpc = yield* rpcClient
      const traceId = yield* rpc
        .SayHello({ user_id: 2n })
        .pipe(Effect.zipRight(Effect.map(Effect.currentSpan, (span) => span.traceId)), Effect.withSpan("test.client"))
      const server = spans.traces.filter((s) => s.name === "UsersRpc.SayHello" && s.traceId === traceId)
      assert.isAtLeast(server.length, 1)
      assert.isTrue(spans.traces.some((s) => s.name === "Greeter.sayHello" && s.traceId === traceId))
    })
  )

  it.scoped("the audit log example: changes through any front door are listed by ListAuditEntries", () =>
    Effect.gen(function* () {
      const rpc = yield* rpcClient
      const user = yield* rpc.CreateUser({ name: "Audra", email: "audra@example.com" })
      yield* rpc.UpdateUser({ id: user.id, name: "Audra B" })
      yield* rpc.UpdateUser({ id: user.id }) // no change: not recorded
      yield* rpc.DeleteUser({ id: user.id })
      const entries = yield* rpc.ListAuditEntries({ user_id: user.id, limit: 0 })
      assert.deepStrictEqual(
        entries.map((e) => e.action),
        ["deleted", "updated", "created"]
      )
      assert.isTrue(entries.every((e) => e.user_id === user.id && e.at instanceof Date))
      const invalid = yield* Effect.flip(rpc.ListAuditEntries({ user_id: user.id, limit: 1000 }))
      assert.deepStrictEqual(invalid._tag === "InvalidArgument" ? invalid.field : invalid._tag, "limit")
      // Its health check is registered, and not critical.
      const port = yield* httpPort
      const readiness = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.text()))
      assert.match(readiness, /"audit_log"/)
    })
  )
})
