import { assert, describe, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { afterAll, inject } from "vitest"
import { startFaultProxy } from "../support/FaultProxy.js"
import { blockedQueries, holdUsersTable } from "../support/locks.js"
import { pollUntil } from "../support/poll.js"
import { freePort } from "../support/ports.js"
import { message, portOf, START_MS, serviceOn, startLoadClient, stopAll } from "../support/process.js"
import { SeededDatabase } from "../support/service.js"
import { FreshDatabaseUrl } from "../support/TestDatabase.js"

afterAll(stopAll)

const probe = (port: number, path: string) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status))
/** The status, or undefined while nothing listens on the port. */
const probeOrRefused = (port: number, path: string) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}${path}`).then(
      (r) => r.status,
      () => undefined
    )
  )

const dsnVia = (url: Redacted.Redacted<string>, port: number) => {
  const dsn = new URL(Redacted.value(url))
  dsn.host = `127.0.0.1:${port}`
  return dsn.toString()
}

layer(SeededDatabase, { excludeTestServices: true, timeout: "240 seconds" })("lifecycle", (it) => {
  it.scoped(
    "starts with Postgres down: keeps trying with nothing listening, and opens both ports within 5 s of Postgres answering",
    () =>
      Effect.gen(function* () {
        const { url } = yield* FreshDatabaseUrl
        const target = new URL(Redacted.value(url))
        const proxy = yield* Effect.acquireRelease(
          Effect.promise(() => startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) })),
          (p) => Effect.promise(p.close)
        )
        proxy.setMode("refuse")
        const http = yield* Effect.promise(freePort)
        const service = serviceOn(dsnVia(url, proxy.port), { HTTP_SERVER_URL: `127.0.0.1:${http}` })
        yield* Effect.promise(() => service.waitForLog(message("Database not ready; retrying"), START_MS))
        // Retrying, not crash-looping; and no door open before the service can answer.
        assert.isNull(service.child.exitCode)
        assert.isUndefined(yield* probeOrRefused(http, "/livez"))
        assert.isFalse(
          service.logs.some((l) => l.message === "gRPC server listening" || l.message === "HTTP server listening")
        )

        proxy.setMode("forward")
        const answeringAt = performance.now()
        yield* pollUntil(probeOrRefused(http, "/readyz"), (status) => status === 200, "5 seconds")
        const readyAfterMs = Math.round(performance.now() - answeringAt)
        console.log(`[measure] ready ${readyAfterMs} ms after Postgres answered (same process, no restart)`)
        assert.strictEqual(yield* probe(http, "/startupz"), 200)
        assert.isTrue(service.logs.some((l) => l.message === "Database ready"))
        assert.isNull(service.child.exitCode)

        service.child.kill("SIGTERM")
        assert.strictEqual((yield* Effect.promise(() => service.exited)).code, 0)
      })
  )

  it.scoped("with DATABASE_CONNECT_FAIL_FAST=true and Postgres down, the start fails with a non-zero exit", () =>
    Effect.gen(function* () {
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() => startFaultProxy({ host: "127.0.0.1", port: 9 })),
        (p) => Effect.promise(p.close)
      )
      proxy.setMode("refuse")
      const { url } = yield* FreshDatabaseUrl
      const service = serviceOn(dsnVia(url, proxy.port), { DATABASE_CONNECT_FAIL_FAST: "true" })
      const { code } = yield* Effect.promise(() => service.exited)
      assert.notStrictEqual(code, 0)
      assert.isTrue(service.logs.some((l) => l.level === "error"))
    })
  )

  // In-flight calls are made to wait in Postgres behind a table lock held by the test, so that they are really
  // in flight when the signal arrives. Needs a Postgres server (PGlite has one backend).
  describe.runIf(inject("postgresSource") !== "embedded")("shutdown", () => {
    it.scoped(
      "SIGTERM under load: every call in flight at the signal completes OK, later ones are refused, exit 0",
      () =>
        Effect.gen(function* () {
          const { url } = yield* FreshDatabaseUrl
          const service = serviceOn(Redacted.value(url), { SHUTDOWN_DELAY: "300ms" })
          yield* Effect.promise(() => service.waitForLog(message("Service ready"), START_MS))
          const grpc = portOf(yield* Effect.promise(() => service.waitForLog(message("gRPC server listening"), 1000)))
          const load = startLoadClient({
            port: grpc,
            workers: 6,
            maxMs: 30_000,
            method: "listUsers",
            deadlineMs: 10_000
          })
          yield* Effect.promise(() => load.waitForLog(message("LOAD STARTED"), 10_000))

          const lock = yield* holdUsersTable
          yield* pollUntil(blockedQueries, (n) => n >= 3)
          const signalAt = Date.now()
          service.child.kill("SIGTERM")
          yield* Effect.promise(() => service.waitForLog(message("Not ready: draining"), 5000))
          yield* Effect.sleep("500 millis") // the in-flight calls stay stuck in Postgres a while into the drain
          yield* lock.release
          const { code } = yield* Effect.promise(() => service.exited)
          const stoppedAfterMs = Date.now() - signalAt
          const resultLine = yield* Effect.promise(() =>
            load.waitForLog((l) => String(l.message).startsWith("LOAD RESULTS "), 30_000)
          )
          const calls: ReadonlyArray<{ start: number; end: number; code: number }> = JSON.parse(
            String(resultLine.message).slice("LOAD RESULTS ".length)
          )
          const inFlight = calls.filter((c) => c.start < signalAt && c.end > signalAt)
          const before = calls.filter((c) => c.start < signalAt)
          const after = calls.filter((c) => c.start >= signalAt)
          const refused = after.filter((c) => c.code !== 0)
          console.log(
            `[measure] SIGTERM under load: ${calls.length} calls; ${inFlight.length} in flight at the signal, ${inFlight.filter((c) => c.code !== 0).length} failed; ${before.filter((c) => c.code !== 0).length} of ${before.length} started before it failed; after it ${after.length - refused.length} served (SHUTDOWN_DELAY) and ${refused.length} refused (codes ${[...new Set(refused.map((c) => c.code))].join(",")}); exit ${code} ${stoppedAfterMs} ms after the signal`
          )
          assert.strictEqual(code, 0)
          assert.isAtLeast(inFlight.length, 3)
          assert.deepStrictEqual(
            before.filter((c) => c.code !== 0),
            []
          )
          assert.isTrue(refused.every((c) => c.code === 14))
          assert.isTrue(service.logs.some((l) => l.message === "Shutdown complete"))
        })
    )

    it.scoped("a call stuck past GRPC_SHUTDOWN_TIMEOUT is cut, and the stop stays bounded", () =>
      Effect.gen(function* () {
        const { url } = yield* FreshDatabaseUrl
        const service = serviceOn(Redacted.value(url), { GRPC_SHUTDOWN_TIMEOUT: "1s" })
        yield* Effect.promise(() => service.waitForLog(message("Service ready"), START_MS))
        const grpc = portOf(yield* Effect.promise(() => service.waitForLog(message("gRPC server listening"), 1000)))
        const lock = yield* holdUsersTable
        const load = startLoadClient({ port: grpc, workers: 2, maxMs: 15_000, method: "listUsers", deadlineMs: 30_000 })
        yield* pollUntil(blockedQueries, (n) => n >= 2)
        const signalAt = Date.now()
        service.child.kill("SIGTERM")
        const { code } = yield* Effect.promise(() => service.exited)
        const stoppedAfterMs = Date.now() - signalAt
        yield* lock.release
        console.log(
          `[measure] stuck call: forced after GRPC_SHUTDOWN_TIMEOUT=1s; exit ${code} ${stoppedAfterMs} ms after SIGTERM`
        )
        assert.strictEqual(code, 0)
        assert.isBelow(stoppedAfterMs, 4000)
        assert.isTrue(
          service.logs.some((l) => l.message === "gRPC calls still running at the shutdown timeout were cut")
        )
        load.child.kill("SIGTERM")
      })
    )
  })
})
