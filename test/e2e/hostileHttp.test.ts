// The HTTP port against hostile bodies (issue 16, findings 1-3): every route reads at most HTTP_MAX_BODY_BYTES, only
// JSON, nested only so deep, before authentication. Real HTTP clients against the started service; bounded.
import { readFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterAll } from "vitest"
import { START_MS, stopAll } from "../support/process.js"
import { httpPort } from "../support/rpc.js"
import { readyServiceProcess, SeededDatabase, serviceOnHarness } from "../support/service.js"

afterAll(stopAll)

const MiB = 1024 * 1024
const FLOOD_BYTES = 200 * MiB

type Answer = { readonly status: number; readonly body: string; readonly headers: Record<string, unknown> }

/**
 * Sends `total` bytes of body (from one reused 64 KiB buffer: the client holds nothing), with a Content-Length or
 * chunked, and stops sending as soon as the answer arrives. Resolves with the answer, or the error that ended it.
 */
const flood = (port: number, path: string, chunked: boolean, total: number) =>
  new Promise<Answer | { readonly error: string; readonly sent: number }>((resolve) => {
    const chunk = Buffer.alloc(64 * 1024, "a")
    let sent = 0
    let done = false
    const finish = (result: Answer | { readonly error: string; readonly sent: number }) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve(result)
      request.destroy()
    }
    const request = httpRequest({
      host: "127.0.0.1",
      port,
      path,
      method: "POST",
      headers: { "content-type": "application/json", ...(chunked ? {} : { "content-length": String(total) }) }
    })
    const timer = setTimeout(() => finish({ error: "no answer within 60 s", sent }), 60_000)
    request.on("response", (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (text: string) => {
        body += text
      })
      response.on("end", () => finish({ status: response.statusCode ?? 0, body, headers: response.headers }))
    })
    request.on("error", (error) => finish({ error: error.message, sent }))
    const pump = () => {
      while (!done && sent < total) {
        sent += chunk.length
        if (!request.write(chunk)) return void request.once("drain", pump)
      }
      if (!done) request.end()
    }
    pump()
  })

/** One request with a small body; the answer with its status, headers and text. */
const send = (port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string }) =>
  Effect.promise(async () => {
    const started = performance.now()
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", ...init })
    const body = await response.text()
    return { status: response.status, body, headers: response.headers, ms: performance.now() - started }
  })

/** Writes raw bytes on a fresh connection; resolves with everything the server sent until it closed (bounded). */
const raw = (port: number, text: string, ms = 10_000) =>
  new Promise<string>((resolve) => {
    const socket = connect(port, "127.0.0.1")
    let out = ""
    const finish = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(out)
    }
    const timer = setTimeout(finish, ms)
    socket.on("data", (data: Buffer) => {
      out += data.toString("latin1")
    })
    socket.on("close", finish)
    socket.on("error", finish)
    socket.write(text)
  })

const statusLines = (text: string) => [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]))

const rssOf = (pid: number) => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return Number(match?.[1] ?? 0) * 1024
}

layer(SeededDatabase, { excludeTestServices: true, timeout: "180 seconds" })("hostile HTTP bodies", (it) => {
  it.scoped(
    "20 clients each sending 200 MB to /rpc and POST /v1/users, with auth on: all 413, RSS grows < 50 MB, /livez answers",
    () =>
      Effect.gen(function* () {
        const { service, httpPort: port } = yield* readyServiceProcess({
          AUTH_JWT_SECRET: "hostile-test-secret-at-least-32-bytes-0123456789"
        })
        const pid = service.child.pid ?? 0
        // Warm: the routes and their handlers are built on the first request.
        for (const path of ["/rpc", "/v1/users"])
          yield* send(port, path, { headers: { "content-type": "application/json" }, body: "{}" })
        const before = rssOf(pid)
        let peak = before
        const sampler = setInterval(() => {
          peak = Math.max(peak, rssOf(pid))
        }, 20)
        const probes: Array<number> = []
        let flooding = true
        const prober = (async () => {
          while (flooding) {
            const started = performance.now()
            const response = await fetch(`http://127.0.0.1:${port}/livez`, { signal: AbortSignal.timeout(10_000) })
            probes.push(response.status === 200 ? performance.now() - started : -1)
            await new Promise((resolve) => setTimeout(resolve, 50))
          }
        })()
        const started = performance.now()
        const answers = yield* Effect.promise(() =>
          Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              flood(port, i % 2 === 0 ? "/rpc" : "/v1/users", i % 4 >= 2, FLOOD_BYTES)
            )
          )
        )
        const seconds = (performance.now() - started) / 1000
        flooding = false
        yield* Effect.promise(() => prober)
        clearInterval(sampler)
        peak = Math.max(peak, rssOf(pid))
        const statuses = answers.map((a) => ("status" in a ? a.status : a.error))
        console.log(
          `[measure] 20×200 MB flood: answered in ${seconds.toFixed(2)} s, RSS ${(before / MiB).toFixed(0)} → peak ${(peak / MiB).toFixed(0)} MB, /livez ${probes.length} probes, max ${Math.max(...probes).toFixed(1)} ms`
        )
        assert.deepStrictEqual(statuses, Array(20).fill(413), JSON.stringify(statuses))
        for (const answer of answers) if ("body" in answer) assert.include(answer.body, "HTTP_MAX_BODY_BYTES")
        assert.isBelow(peak - before, 50 * MiB, "RSS growth under the flood")
        assert.isAbove(probes.length, 0)
        assert.notInclude(probes, -1, "/livez answered 200 throughout")
        assert.isNull(service.child.exitCode, "the process stays up")
        // Still serving: an unauthenticated small JSON body reaches auth (401), not the gate.
        const after = yield* send(port, "/v1/users", {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "Eve", email: "eve@example.com" })
        })
        assert.strictEqual(after.status, 401)
        // A request target `new URL` cannot parse (404: no such route), and one Node's parser refuses (400): an
        // answer each, and the process stays up.
        const odd = yield* Effect.promise(() => raw(port, "GET //[ HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert.deepStrictEqual(statusLines(odd), [404])
        const malformed = yield* Effect.promise(() => raw(port, "GET /livez HTTP/1.1\r\nHost x\r\n\r\n"))
        assert.deepStrictEqual(statusLines(malformed), [400])
        assert.strictEqual((yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/livez`))).status, 200)
        assert.isNull(service.child.exitCode, "the process stays up")
      }),
    // A process start (START_MS on a busy machine) and the flood (bounded at 60 s).
    START_MS + 60_000
  )
})

layer(SeededDatabase, { excludeTestServices: true, timeout: "180 seconds" })("slow HTTP bodies", (it) => {
  it.scoped(
    "100 clients each sending all but the last byte of a 1 MiB body, then stalling: 503 past the shared budget, 408 after 10 s, memory bounded",
    () =>
      Effect.gen(function* () {
        const { service, httpPort: port } = yield* readyServiceProcess()
        const pid = service.child.pid ?? 0
        yield* send(port, "/v1/users", { headers: { "content-type": "application/json" }, body: "{}" })
        const before = rssOf(pid)
        let peak = before
        const sampler = setInterval(() => {
          peak = Math.max(peak, rssOf(pid))
        }, 50)
        const body = "a".repeat(MiB - 1)
        const started = performance.now()
        const answers = yield* Effect.promise(() =>
          Promise.all(
            Array.from({ length: 100 }, () =>
              raw(
                port,
                `POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MiB}\r\n\r\n${body}`,
                60_000
              )
            )
          )
        )
        const seconds = (performance.now() - started) / 1000
        clearInterval(sampler)
        const statuses = answers.flatMap(statusLines)
        const count = (status: number) => statuses.filter((s) => s === status).length
        console.log(
          `[measure] 100 stalled 1 MiB bodies: ${count(503)}×503, ${count(408)}×408 in ${seconds.toFixed(1)} s; RSS ${(before / MiB).toFixed(0)} → peak ${(peak / MiB).toFixed(0)} MB`
        )
        assert.strictEqual(statuses.length, 100, JSON.stringify(statuses))
        assert.deepStrictEqual([...new Set(statuses)].sort(), [408, 503])
        assert.isBelow(peak - before, 100 * MiB, "RSS growth: the shared budget is 32 MiB of bodies")
        assert.isNull(service.child.exitCode, "the process stays up")
      }),
    START_MS + 90_000
  )
})

const Service = serviceOnHarness().pipe(Layer.orDie)

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("hostile HTTP bodies, auth off", (it) => {
  it.scoped("a Content-Length over HTTP_MAX_BODY_BYTES is 413 before the body is sent; 100-continue gets no 100", () =>
    Effect.gen(function* () {
      const port = yield* httpPort
      // The body never comes: the answer must not wait for it.
      const answer = yield* Effect.promise(
        () =>
          new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
            let continued = false
            const request = httpRequest({
              host: "127.0.0.1",
              port,
              path: "/v1/users",
              method: "POST",
              headers: { "content-type": "application/json", "content-length": String(2 * MiB), expect: "100-continue" }
            })
            request.on("continue", () => {
              continued = true
            })
            request.on("response", (response) => {
              response.resume()
              console.log(
                `[measure] 413 for a 2 MiB Content-Length: ${(performance.now() - sent).toFixed(1)} ms after the headers`
              )
              resolve({ status: response.statusCode ?? 0, continued })
              request.destroy()
            })
            request.on("error", reject)
            setTimeout(() => reject(new Error("no answer within 10 s")), 10_000).unref()
            const sent = performance.now()
            request.flushHeaders()
          })
      )
      assert.deepStrictEqual(answer, { status: 413, continued: false })
    })
  )

  it.scoped("after a refusal, requests pipelined on the same connection are never served", () =>
    Effect.gen(function* () {
      const port = yield* httpPort
      const valid = JSON.stringify({ name: "Pipelined", email: "pipelined@example.com" })
      const answer = yield* Effect.promise(() =>
        raw(
          port,
          "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}" +
            `POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${valid.length}\r\n\r\n${valid}`
        )
      )
      assert.deepStrictEqual(statusLines(answer), [415])
      const list = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/v1/users?page_size=100`).then((r) => r.text())
      )
      assert.notInclude(list, "pipelined@example.com")
    })
  )

  it.scoped("probes take no body; /rpc takes at most 64 messages in one request", () =>
    Effect.gen(function* () {
      const port = yield* httpPort
      for (const path of ["/livez", "/readyz", "/metrics"]) {
        const answer = yield* Effect.promise(() =>
          raw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello`)
        )
        assert.deepStrictEqual(statusLines(answer), [413], path)
      }
      const line = JSON.stringify({ _tag: "Request", id: "1", tag: "GetUser", payload: { id: "x" }, headers: [] })
      const batch = yield* send(port, "/rpc", {
        headers: { "content-type": "application/ndjson" },
        body: `${Array(65).fill(line).join("\n")}\n`
      })
      assert.strictEqual(batch.status, 413)
      assert.include(batch.body, "64 messages")
    })
  )

  it.scoped("100,000 nested arrays, as the body or in a field, are 400 on REST and /rpc, never 500", () =>
    Effect.gen(function* () {
      const port = yield* httpPort
      const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`
      const json = { "content-type": "application/json" }
      const cases = [
        ["/v1/users", deep],
        ["/v1/users", `{"name":${deep},"email":"x@example.com"}`],
        ["/rpc", deep],
        ["/rpc", `{"_tag":"Request","id":"1","tag":"CreateUser","payload":{"name":${deep}},"headers":[]}`]
      ] as const
      const times: Array<string> = []
      for (const [path, body] of cases) {
        const answer = yield* send(port, path, { headers: json, body })
        times.push(`${path} ${answer.ms.toFixed(1)} ms`)
        assert.strictEqual(answer.status, 400, `${path}: ${answer.body}`)
        assert.include(answer.body, "nests deeper")
        assert.isBelow(answer.body.length, 2048)
      }
      console.log(`[measure] 100,000-deep JSON refused: ${times.join(", ")}`)
      // A PATCH too (every body-carrying route).
      const patch = yield* send(port, "/v1/users/1", { method: "PATCH", headers: json, body: deep })
      assert.strictEqual(patch.status, 400)
    })
  )

  it.scoped("only application/json bodies: text/plain, forms, multipart and untyped bodies are 415; no CORS", () =>
    Effect.gen(function* () {
      const port = yield* httpPort
      const payload = JSON.stringify({ name: "Mallory", email: "mallory@example.com" })
      const form = new FormData()
      form.set("name", "Mallory")
      form.set("email", "mallory@example.com")
      const refused = [
        yield* send(port, "/v1/users", { headers: { "content-type": "text/plain" }, body: payload }),
        yield* send(port, "/v1/users", {
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "name=Mallory&email=mallory%40example.com"
        }),
        yield* Effect.promise(async () => {
          const response = await fetch(`http://127.0.0.1:${port}/v1/users`, { method: "POST", body: form })
          return { status: response.status, body: await response.text(), headers: response.headers, ms: 0 }
        }),
        yield* Effect.promise(async () => {
          // No content type at all (fetch would add text/plain to a string body: send bytes).
          const response = await fetch(`http://127.0.0.1:${port}/v1/users`, {
            method: "POST",
            body: new TextEncoder().encode(payload)
          })
          return { status: response.status, body: await response.text(), headers: response.headers, ms: 0 }
        }),
        yield* send(port, "/rpc", { headers: { "content-type": "text/plain" }, body: "{}" }),
        yield* send(port, "/v1/users/1", { method: "PATCH", headers: { "content-type": "text/plain" }, body: "{}" })
      ]
      assert.deepStrictEqual(
        refused.map((r) => r.status),
        [415, 415, 415, 415, 415, 415]
      )
      for (const answer of refused) assert.include(answer.body, "application/json")
      // Nothing was created: Mallory is not in the list.
      const list = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/v1/users?page_size=100`).then((r) => r.text())
      )
      assert.notInclude(list, "Mallory")
      // The metrics count the status sent.
      const metrics = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()))
      const refusedCount = /^http_requests_total\{method="POST",route="\/v1\/users",status="415"\} (\d+)$/m.exec(
        metrics
      )
      assert.isAtLeast(Number(refusedCount?.[1] ?? 0), 4)
      // A preflight and a JSON request get no CORS header (none is configured).
      const preflight = yield* send(port, "/v1/users", {
        method: "OPTIONS",
        headers: { origin: "http://evil.example", "access-control-request-method": "POST" }
      })
      const created = yield* send(port, "/v1/users", {
        headers: { "content-type": "application/json; charset=utf-8", origin: "http://evil.example" },
        body: JSON.stringify({ name: "Jason", email: "jason@example.com" })
      })
      assert.strictEqual(created.status, 201)
      for (const answer of [preflight, created])
        assert.deepStrictEqual(
          [...answer.headers.keys()].filter((name) => name.startsWith("access-control-")),
          []
        )
    })
  )
})
