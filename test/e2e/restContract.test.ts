// REST errors are a contract (issue 16, findings 7 and 10): one error shape for every 4xx, naming the field and
// echoing at most 64 bytes of input; 404 and 405 (with Allow) for unknown routes; unknown fields refused; the metrics
// count the status actually sent; and the same bounds on /rpc.
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { httpPort } from "../support/rpc.js"
import { serviceOnHarness } from "../support/service.js"

const Service = serviceOnHarness().pipe(Layer.orDie)

type Answer = { readonly status: number; readonly text: string; readonly json: unknown; readonly allow: string | null }

const call = (method: string, path: string, body?: string) =>
  Effect.flatMap(httpPort, (port) =>
    Effect.promise(async (): Promise<Answer> => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } })
      })
      const text = await response.text()
      let json: unknown = null
      try {
        json = JSON.parse(text)
      } catch {
        json = null
      }
      return { status: response.status, text, json, allow: response.headers.get("allow") }
    })
  )

/** The documented problem: {"_tag": ..., "message": ...} and nothing else. */
const assertProblem = (answer: Answer, status: number, tag: string, mentions: ReadonlyArray<string>) => {
  assert.strictEqual(answer.status, status, answer.text.slice(0, 300))
  assert.isObject(answer.json, answer.text.slice(0, 300))
  const problem = answer.json as Record<string, unknown>
  assert.deepStrictEqual(Object.keys(problem).sort(), ["_tag", "message"], answer.text.slice(0, 300))
  assert.strictEqual(problem._tag, tag)
  for (const word of mentions) assert.include(String(problem.message), word)
  assert.isBelow(answer.text.length, 2048, "an error body stays under 2 KB")
}

const big = "x".repeat(100_000)

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("REST error contract", (it) => {
  it.effect("unknown paths are 404 and wrong methods 405 with Allow, in the documented shape", () =>
    Effect.gen(function* () {
      assertProblem(yield* call("GET", "/v1/nope"), 404, "NotFound", ["/v1/nope"])
      assertProblem(yield* call("GET", "/v1/users/1/friends"), 404, "NotFound", [])
      // A parameter too long for the router: unknown, not a 405 that lists the method it refuses.
      const long = yield* call("GET", `/v1/users/${"1".repeat(101)}`)
      assert.strictEqual(long.status === 404 || long.status === 400, true, long.text)
      assert.isNull(long.allow)
      const put = yield* call("PUT", "/v1/users/1", "{}")
      assertProblem(put, 405, "MethodNotAllowed", ["PUT"])
      assert.strictEqual(put.allow, "GET, PATCH, DELETE")
      const del = yield* call("DELETE", "/v1/users")
      assertProblem(del, 405, "MethodNotAllowed", ["DELETE"])
      assert.strictEqual(del.allow, "GET, POST")
    })
  )

  it.effect(
    "malformed JSON, missing, mistyped and unknown fields: 400 naming the field, echoing at most 64 bytes",
    () =>
      Effect.gen(function* () {
        assertProblem(yield* call("POST", "/v1/users", '{"name":'), 400, "BadRequest", ["JSON"])
        assertProblem(yield* call("POST", "/v1/users", '{"name":"Ann"}'), 400, "BadRequest", ["email", "required"])
        assertProblem(yield* call("POST", "/v1/users", '{"name":1,"email":"a@example.com"}'), 400, "BadRequest", [
          "name"
        ])
        const echoed = yield* call("POST", "/v1/users", JSON.stringify({ name: [big], email: "a@example.com" }))
        assertProblem(echoed, 400, "BadRequest", ["name"])
        assert.notInclude(echoed.text, "x".repeat(65))
        assertProblem(
          yield* call("POST", "/v1/users", JSON.stringify({ name: "Ann", email: "ann@example.com", role: "admin" })),
          400,
          "BadRequest",
          ["role"]
        )
        const longKey = yield* call(
          "POST",
          "/v1/users",
          JSON.stringify({ name: "Ann", email: "a@example.com", [big]: 1 })
        )
        assertProblem(longKey, 400, "BadRequest", [])
        assert.notInclude(longKey.text, "x".repeat(65))
        assertProblem(yield* call("PATCH", "/v1/users/1", JSON.stringify({ nickname: "x" })), 400, "BadRequest", [
          "nickname"
        ])
        assertProblem(yield* call("GET", "/v1/users?page_size=abc"), 400, "BadRequest", ["page_size"])
        assertProblem(yield* call("POST", "/v1/users", "[1,2]"), 400, "BadRequest", [])
        // The messages read as the domain's own validation messages do.
        const messages = [
          yield* call("POST", "/v1/users", '{"name":'),
          yield* call("POST", "/v1/users", '{"name":"Ann"}'),
          yield* call("POST", "/v1/users", '{"name":1,"email":"a@example.com"}'),
          yield* call("POST", "/v1/users", '{"name":"Ann","email":"a@example.com","role":"admin"}')
        ].map((answer) => (answer.json as { message?: string }).message)
        assert.deepStrictEqual(messages, [
          "invalid body: is not valid JSON",
          "invalid email: is required",
          "invalid name: must be string",
          "invalid role: is not a field of this request"
        ])
        // None of these created anything.
        const list = yield* call("GET", "/v1/users?page_size=100")
        assert.notInclude(list.text, "ann@example.com")
      })
  )

  it.effect("/rpc: a payload of the wrong shape is refused without echoing it", () =>
    Effect.gen(function* () {
      const body = `${JSON.stringify({
        _tag: "Request",
        id: "1",
        tag: "CreateUser",
        payload: { name: [big], email: "a@example.com" },
        headers: []
      })}\n`
      const answer = yield* Effect.flatMap(httpPort, (port) =>
        Effect.promise(async () => {
          const response = await fetch(`http://127.0.0.1:${port}/rpc`, {
            method: "POST",
            body,
            headers: { "content-type": "application/ndjson" }
          })
          return { status: response.status, text: await response.text() }
        })
      )
      assert.isBelow(answer.text.length, 2048, answer.text.slice(0, 300))
      assert.notInclude(answer.text, "x".repeat(65))
      assert.include(answer.text, "name")
    })
  )

  it.effect("the metrics count the status sent", () =>
    Effect.gen(function* () {
      yield* call("PUT", "/v1/users/2", "{}")
      yield* call("POST", "/v1/users", '{"name":')
      const metrics = (yield* call("GET", "/metrics")).text
      assert.match(metrics, /^http_requests_total\{method="PUT",route="\/v1\/users\/\{id\}",status="405"\} \d+$/m)
      assert.match(metrics, /^http_requests_total\{method="POST",route="\/v1\/users",status="400"\} \d+$/m)
      assert.notMatch(metrics, /^http_requests_total\{[^}]*status="500"\}/m)
    })
  )
})
