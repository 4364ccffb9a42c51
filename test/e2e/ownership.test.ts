// Object-level authorization (issue 16, finding 11; OWASP API1): with auth on, a token reaches only what the table in
// src/app/Ownership.ts allows, on every door (gRPC, REST, /rpc).
import { assert, layer } from "@effect/vitest"
import { Metadata, type ServiceError, status } from "@grpc/grpc-js"
import { Effect, Layer } from "effect"
import { SignJWT } from "jose"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import { clientsFor, unary } from "../support/grpc.js"
import { httpPort, rpcClientWith } from "../support/rpc.js"
import { serviceOnHarness } from "../support/service.js"

const SECRET = "ownership-test-secret-at-least-32-bytes-0123"
const Service = serviceOnHarness(Effect.succeed({ AUTH_JWT_SECRET: SECRET })).pipe(Layer.orDie)

const token = (subject: string, scope: string) =>
  Effect.promise(() =>
    new SignJWT({ scope })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(SECRET))
      .then((jwt) => `Bearer ${jwt}`)
  )

/** What each door answers, as one word: OK, or the refusal. */
type Door = {
  readonly get: (id: bigint) => Effect.Effect<string>
  readonly hello: (id: bigint) => Effect.Effect<string>
  readonly list: Effect.Effect<string>
  readonly rename: (id: bigint, name: string) => Effect.Effect<string>
  readonly remove: (id: bigint) => Effect.Effect<string>
}

const grpcDoor = (authorization: string) =>
  Effect.gen(function* () {
    const { greeter, users } = yield* clientsFor((yield* GrpcServer).port)
    const metadata = () => {
      const m = new Metadata()
      m.set("authorization", authorization)
      return m
    }
    const code = (call: Effect.Effect<unknown, ServiceError>) =>
      Effect.match(call, {
        onSuccess: () => "OK",
        onFailure: (error) => (error.code === status.PERMISSION_DENIED ? "DENIED" : `code ${error.code}`)
      })
    return {
      get: (id) => code(unary<unknown>((cb) => users.getUser({ id }, metadata(), cb))),
      hello: (id) => code(unary<unknown>((cb) => greeter.sayHello({ userId: id }, metadata(), cb))),
      list: code(unary<unknown>((cb) => users.listUsers({ pageSize: 10, pageToken: "" }, metadata(), cb))),
      rename: (id, name) => code(unary<unknown>((cb) => users.updateUser({ id, name }, metadata(), cb))),
      remove: (id) => code(unary<unknown>((cb) => users.deleteUser({ id }, metadata(), cb)))
    } satisfies Door
  })

const restDoor = (authorization: string) =>
  Effect.map(httpPort, (port): Door => {
    const call = (method: string, path: string, body?: unknown) =>
      Effect.promise(async () => {
        const response = await fetch(`http://127.0.0.1:${port}${path}`, {
          method,
          headers: { authorization, "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        await response.text()
        return response.status < 300 ? "OK" : response.status === 403 ? "DENIED" : `status ${response.status}`
      })
    return {
      get: (id) => call("GET", `/v1/users/${id}`),
      // REST has no SayHello: reading the user is the same rule.
      hello: (id) => call("GET", `/v1/users/${id}`),
      list: call("GET", "/v1/users"),
      rename: (id, name) => call("PATCH", `/v1/users/${id}`, { name }),
      remove: (id) => call("DELETE", `/v1/users/${id}`)
    }
  })

const rpcDoor = (authorization: string) =>
  Effect.map(rpcClientWith(authorization), (rpc): Door => {
    const tag = <A, E extends { readonly _tag: string }>(call: Effect.Effect<A, E>) =>
      Effect.match(call, {
        onSuccess: () => "OK",
        onFailure: (e) => (e._tag === "PermissionDenied" ? "DENIED" : e._tag)
      })
    return {
      get: (id) => tag(rpc.GetUser({ id })),
      hello: (id) => tag(rpc.SayHello({ user_id: id })),
      list: tag(rpc.ListUsers({ page_size: 10, page_token: "" })),
      rename: (id, name) => tag(rpc.UpdateUser({ id, name })),
      remove: (id) => tag(rpc.DeleteUser({ id }))
    }
  })

const doors = { gRPC: grpcDoor, REST: restDoor, RPC: rpcDoor } as const

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("object-level authorization", (it) => {
  it.scoped("a write-scope token for one user reads and changes only that user, on every door", () =>
    Effect.gen(function* () {
      const admin = yield* rpcClientWith(yield* token("ops", "users:write users:admin users:read"))
      for (const [name, open] of Object.entries(doors)) {
        // Two users of this door's own: the caller (its token's subject is its id) and a victim.
        const caller = yield* admin.CreateUser({ name: "Caller", email: `caller.${name}@example.com` })
        const victim = yield* admin.CreateUser({ name: "Victim", email: `victim.${name}@example.com` })
        const door = yield* open(yield* token(String(caller.id), "users:write"))
        const outcomes = {
          readSelf: yield* door.get(caller.id),
          helloSelf: yield* door.hello(caller.id),
          readOther: yield* door.get(victim.id),
          helloOther: yield* door.hello(victim.id),
          list: yield* door.list,
          renameOther: yield* door.rename(victim.id, "Pwned"),
          deleteOther: yield* door.remove(victim.id),
          renameSelf: yield* door.rename(caller.id, "Renamed")
        }
        assert.deepStrictEqual(
          outcomes,
          {
            readSelf: "OK",
            helloSelf: "OK",
            readOther: "DENIED",
            helloOther: "DENIED",
            list: "DENIED",
            renameOther: "DENIED",
            deleteOther: "DENIED",
            renameSelf: "OK"
          },
          name
        )
        // The victim is untouched.
        assert.strictEqual((yield* admin.GetUser({ id: victim.id })).name, "Victim", name)
        // users:read reads others and lists; users:admin changes others.
        const reader = yield* open(yield* token("reader", "users:read"))
        assert.deepStrictEqual([yield* reader.get(victim.id), yield* reader.list], ["OK", "OK"], name)
        assert.strictEqual(yield* reader.rename(victim.id, "Nope"), "DENIED", name)
        const administrator = yield* open(yield* token("ops", "users:write users:admin"))
        assert.strictEqual(yield* administrator.remove(victim.id), "OK", name)
      }
    })
  )

  it.scoped("reading a user's audit trail needs audit:read", () =>
    Effect.gen(function* () {
      const own = yield* rpcClientWith(yield* token("1", "users:read users:write"))
      const refused = yield* Effect.flip(own.ListAuditEntries({ user_id: 1n, limit: 0 }))
      assert.strictEqual(refused._tag, "PermissionDenied")
      const auditor = yield* rpcClientWith(yield* token("auditor", "audit:read"))
      assert.isArray(yield* auditor.ListAuditEntries({ user_id: 1n, limit: 0 }))
    })
  )
})
