import { assert, describe, layer } from "@effect/vitest"
import type { ServiceError } from "@grpc/grpc-js"
import { Effect, Redacted } from "effect"
import { afterAll, inject } from "vitest"
import type { ListUsersResponse } from "../../src/adapters/grpc/generated/users/v1/users.js"
import { clientsFor } from "../support/grpc.js"
import { blockedQueries, holdUsersTable } from "../support/locks.js"
import { pollUntil } from "../support/poll.js"
import { message, messagesOf, portOf, type ServiceProcess, START_MS, serviceOn, stopAll } from "../support/process.js"
import { SeededDatabase } from "../support/service.js"
import { FreshDatabaseUrl } from "../support/TestDatabase.js"

afterAll(stopAll)

const DRAINING = "Not ready: draining"
const COMPLETE = "Shutdown complete"
const SECOND = "Second signal: cutting the drain short"
/** The line that ends the gRPC drain, whichever way it ended. */
const GRPC_END = [
  "gRPC server stopped",
  "gRPC calls still running at the shutdown timeout were cut",
  "gRPC drain cut short by a second signal"
]

const readyPort = (service: ServiceProcess) =>
  Effect.promise(async () => {
    await service.waitForLog(message("Service ready"), START_MS)
    return portOf(await service.waitForLog(message("gRPC server listening"), 1000))
  })

/** The index of the first line with one of these messages (-1 when none). */
const indexOf = (messages: ReadonlyArray<string>, ...texts: ReadonlyArray<string>) =>
  messages.findIndex((m) => texts.includes(m))

// A call is held in flight by a table lock the test holds (as in lifecycle.test.ts): needs a Postgres server.

/** A ListUsers call started now; resolves with its status code and when the client saw it. */
const stuckCall = (port: number) =>
  Effect.gen(function* () {
    const { users } = yield* clientsFor(port)
    return new Promise<{ readonly code: number; readonly at: number }>((resolve) => {
      users.listUsers({ pageSize: 10, pageToken: "" }, (error: ServiceError | null, _reply: ListUsersResponse) =>
        resolve({ code: error?.code ?? 0, at: performance.now() })
      )
    })
  })

layer(SeededDatabase, { excludeTestServices: true, timeout: "120 seconds" })("shutdown signals", (it) => {
  it.scoped(
    "two signals a few ms apart (Ctrl-C: the process group, then tsx's relay) never cut the log: 5 stops",
    () =>
      Effect.gen(function* () {
        const { url } = yield* FreshDatabaseUrl
        for (let run = 0; run < 5; run++) {
          // Even runs: SIGINT, and SIGINT again once the first is seen (as tsx relays it, 30 ms later). Odd runs:
          // SIGINT and SIGTERM at once (two SIGINTs that close would merge into one in the kernel). A SHUTDOWN_DELAY
          // keeps the stop on until the second arrives, however late a busy machine lets this process send it.
          const relayed = run % 2 === 0
          const second: NodeJS.Signals = relayed ? "SIGINT" : "SIGTERM"
          const service = serviceOn(Redacted.value(url), { SHUTDOWN_DELAY: "2s" })
          yield* readyPort(service)
          const signalAt = performance.now()
          service.child.kill("SIGINT")
          if (relayed) yield* Effect.promise(() => service.waitForLog(message("Shutdown signal received"), 5000))
          service.child.kill(second)
          const { code } = yield* Effect.promise(() => service.exited)
          const stopMs = Math.round(performance.now() - signalAt)
          const messages = messagesOf(service)
          console.log(`[measure] SIGINT+${second} run ${run}: exit ${code} ${stopMs} ms after the signals`)
          const draining = indexOf(messages, DRAINING)
          const grpcEnd = indexOf(messages, ...GRPC_END)
          const complete = indexOf(messages, COMPLETE)
          assert.isAtLeast(draining, 0, `no "${DRAINING}" in ${JSON.stringify(messages)}`)
          assert.isAbove(grpcEnd, draining, `no gRPC stop line after "${DRAINING}" in ${JSON.stringify(messages)}`)
          assert.isAbove(complete, grpcEnd, `no "${COMPLETE}" after the gRPC stop in ${JSON.stringify(messages)}`)
          assert.strictEqual(complete, messages.length - 1, "the completion line is the last one")
          assert.include(messages, SECOND, JSON.stringify(service.logs.slice(-8)))
          // A second signal cuts the stop short, which the exit code says (see docs/operations.md).
          assert.strictEqual(code, 130)
          assert.deepStrictEqual(service.stderr, [])
        }
      }),
    300_000
  )

  describe.runIf(inject("postgresSource") !== "embedded")("with a call in flight", () => {
    it.scoped(
      "a call cut at GRPC_SHUTDOWN_TIMEOUT gets its status at once, not at process exit",
      () =>
        Effect.gen(function* () {
          const { url } = yield* FreshDatabaseUrl
          const service = serviceOn(Redacted.value(url), { GRPC_SHUTDOWN_TIMEOUT: "1s" })
          const port = yield* readyPort(service)
          const lock = yield* holdUsersTable
          const answered = yield* stuckCall(port)
          yield* pollUntil(blockedQueries, (n) => n >= 1, "10 seconds")
          const signalAt = performance.now()
          service.child.kill("SIGTERM")
          yield* Effect.promise(() =>
            service.waitForLog(message("gRPC calls still running at the shutdown timeout were cut"), 10_000)
          )
          const cutSeenAt = performance.now()
          const status = yield* Effect.promise(() => answered)
          const { code } = yield* Effect.promise(() => service.exited)
          const exitAt = performance.now()
          yield* lock.release
          const statusAfterCutMs = Math.round(status.at - cutSeenAt)
          console.log(
            `[measure] stuck call: cut ${Math.round(cutSeenAt - signalAt)} ms after SIGTERM; client status ${status.code} ${statusAfterCutMs} ms after the cut line; exit ${code} ${Math.round(exitAt - status.at)} ms after that`
          )
          assert.include([1, 14], status.code) // CANCELLED or UNAVAILABLE
          assert.isBelow(statusAfterCutMs, 500)
          assert.strictEqual(code, 0)
          const messages = messagesOf(service)
          assert.isBelow(indexOf(messages, DRAINING), indexOf(messages, ...GRPC_END))
          assert.strictEqual(messages.at(-1), COMPLETE)
        }),
      120_000
    )

    it.scoped(
      "a second signal during the stop ends the drain at once; the rest of the stop still runs and logs",
      () =>
        Effect.gen(function* () {
          const { url } = yield* FreshDatabaseUrl
          const service = serviceOn(Redacted.value(url), { GRPC_SHUTDOWN_TIMEOUT: "60s" })
          const port = yield* readyPort(service)
          const lock = yield* holdUsersTable
          const answered = yield* stuckCall(port)
          yield* pollUntil(blockedQueries, (n) => n >= 1, "10 seconds")
          service.child.kill("SIGTERM")
          yield* Effect.promise(() => service.waitForLog(message(DRAINING), 10_000))
          const secondAt = performance.now()
          service.child.kill("SIGTERM")
          const status = yield* Effect.promise(() => answered)
          const { code } = yield* Effect.promise(() => service.exited)
          const exitAt = performance.now()
          yield* lock.release
          console.log(
            `[measure] second signal during the drain: client status ${status.code} ${Math.round(status.at - secondAt)} ms after it; exit ${code} ${Math.round(exitAt - secondAt)} ms after it`
          )
          assert.include([1, 14], status.code)
          assert.isBelow(status.at - secondAt, 1000)
          assert.isBelow(exitAt - secondAt, 5000)
          assert.strictEqual(code, 130)
          const messages = messagesOf(service)
          const second = indexOf(messages, SECOND)
          const cut = indexOf(messages, "gRPC drain cut short by a second signal")
          assert.isAbove(second, indexOf(messages, DRAINING))
          assert.isAbove(cut, second)
          assert.isAbove(indexOf(messages, COMPLETE), cut)
          assert.strictEqual(messages.at(-1), COMPLETE)
        }),
      120_000
    )
  })
})
