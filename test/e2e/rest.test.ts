import { HttpServer } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { serviceOnHarness } from "../support/service.js"

const Service = serviceOnHarness()

const request = (method: string, path: string, body?: unknown) =>
  Effect.gen(function* () {
    const server = yield* HttpServer.HttpServer
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    const response = yield* Effect.promise(() =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
      })
    )
    const text = yield* Effect.promise(() => response.text())
    const isJson = (response.headers.get("content-type") ?? "").includes("json")
    const json: unknown = text === "" || !isJson ? undefined : JSON.parse(text)
    return { status: response.status, json }
  })

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("REST API (/v1/users)", (it) => {
  it.effect("GET, POST, PATCH, DELETE with the statuses of the error table", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* request("GET", "/v1/users/1"), {
        status: 200,
        json: { id: "1", name: "Alice", email: "alice@example.com" }
      })
      assert.deepStrictEqual(yield* request("GET", "/v1/users/999"), {
        status: 404,
        json: { _tag: "NotFound", message: "user 999 not found" }
      })
      assert.deepStrictEqual(yield* request("GET", "/v1/users/0"), {
        status: 400,
        json: { _tag: "BadRequest", message: "invalid id: must be a positive 64-bit integer" }
      })
      const created = yield* request("POST", "/v1/users", { name: "Dora", email: "dora@example.com" })
      assert.strictEqual(created.status, 201)
      const id =
        typeof created.json === "object" && created.json !== null && "id" in created.json ? String(created.json.id) : ""
      assert.deepStrictEqual(yield* request("POST", "/v1/users", { name: "Dora", email: "dora@example.com" }), {
        status: 409,
        json: { _tag: "Conflict", message: "email dora@example.com is already taken" }
      })
      assert.deepStrictEqual(yield* request("POST", "/v1/users", { name: "Eve", email: "nope" }), {
        status: 400,
        json: { _tag: "BadRequest", message: "invalid email: must be a valid email address" }
      })
      assert.deepStrictEqual(yield* request("PATCH", `/v1/users/${id}`, { name: "Dorothy" }), {
        status: 200,
        json: { id, name: "Dorothy", email: "dora@example.com" }
      })
      assert.strictEqual((yield* request("DELETE", `/v1/users/${id}`)).status, 204)
      assert.strictEqual((yield* request("GET", `/v1/users/${id}`)).status, 404)
    })
  )

  it.effect("lists with page_size and an opaque page_token", () =>
    Effect.gen(function* () {
      const first = yield* request("GET", "/v1/users?page_size=1")
      assert.strictEqual(first.status, 200)
      const token =
        typeof first.json === "object" && first.json !== null && "next_page_token" in first.json
          ? String(first.json.next_page_token)
          : ""
      assert.notStrictEqual(token, "")
      const second = yield* request("GET", `/v1/users?page_size=1&page_token=${token}`)
      const users =
        typeof second.json === "object" && second.json !== null && "users" in second.json ? second.json.users : []
      assert.deepStrictEqual(users, [{ id: "2", name: "Bob", email: "bob@example.com" }])
      assert.strictEqual((yield* request("GET", "/v1/users?page_size=500")).status, 400)
    })
  )

  it.effect("serves the OpenAPI document and a documentation page", () =>
    Effect.gen(function* () {
      const spec = yield* request("GET", "/openapi.json")
      assert.strictEqual(spec.status, 200)
      const paths = typeof spec.json === "object" && spec.json !== null && "paths" in spec.json ? spec.json.paths : {}
      assert.includeMembers(Object.keys(paths ?? {}), ["/v1/users/{id}", "/v1/users"])
      // The truthful document (test/adapters/openapi.test.ts lints it) is the one served.
      assert.include(JSON.stringify(spec.json), '"title":"effect-microservice"')
      assert.include(JSON.stringify(spec.json), '"bearerFormat":"JWT"')
      assert.strictEqual((yield* request("GET", "/docs")).status, 200)
    })
  )
})
