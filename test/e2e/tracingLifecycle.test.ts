import { Effect } from "effect"
import { afterAll, assert, describe, it } from "vitest"
import type { SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { startFaultProxy } from "../support/FaultProxy.js"
import { clientsFor, unary } from "../support/grpc.js"
import { startOtlpReceiver } from "../support/OtlpReceiver.js"
import { portOf, START_MS, startService, stopAll } from "../support/process.js"

afterAll(stopAll)

const sayHello = (port: number, userId: bigint) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(clientsFor(port), ({ greeter }) =>
        unary<SayHelloResponse>((cb) => greeter.sayHello({ userId }, cb))
      )
    )
  )

const start = async (env: Record<string, string>) => {
  const service = startService({ GRPC_SERVER_URL: "127.0.0.1:0", HTTP_SERVER_URL: "127.0.0.1:0", ...env })
  await service.waitForLog((l) => l.message === "Service ready", START_MS)
  return { service, port: portOf(await service.waitForLog((l) => l.message === "gRPC server listening", 1000)) }
}

describe("tracing and the service's life", { timeout: 2 * START_MS }, () => {
  it("spans still queued at SIGTERM are flushed before the exit", async () => {
    const receiver = await startOtlpReceiver()
    try {
      // The default 5 s export delay: without the flush at shutdown these spans would be lost.
      const { service, port } = await start({ TRACING_COLLECTOR_URL: `127.0.0.1:${receiver.port}` })
      await sayHello(port, 1n)
      assert.strictEqual(receiver.spans.length, 0)
      service.child.kill("SIGTERM")
      assert.strictEqual((await service.exited).code, 0)
      assert.isTrue(receiver.spans.some((s) => s.name === "hello_world.Greeter/SayHello"))
    } finally {
      await receiver.close()
    }
  })

  it("a collector that is down neither slows nor fails requests, and the lost spans are counted", async () => {
    const down = await startFaultProxy({ host: "127.0.0.1", port: 9 })
    down.setMode("refuse")
    try {
      const { service, port } = await start({
        TRACING_COLLECTOR_URL: `127.0.0.1:${down.port}`,
        OTEL_BSP_SCHEDULE_DELAY: "50"
      })
      const http = Number(
        String((await service.waitForLog((l) => l.message === "HTTP server listening", 1000)).address)
          .split(":")
          .at(-1)
      )
      const started = performance.now()
      for (let i = 0; i < 50; i++) assert.strictEqual((await sayHello(port, 1n)).message, "Hello, Alice!")
      const perCallMs = (performance.now() - started) / 50
      // A few ms a call on a quiet machine; generous for a busy one (spans are exported in the background).
      assert.isBelow(perCallMs, 500)
      let dropped = 0
      for (let i = 0; i < 100 && dropped === 0; i++) {
        const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text()
        dropped = Number(/^tracing_spans_dropped_total (\d+)/m.exec(text)?.[1] ?? 0)
        if (dropped === 0) await new Promise((resolve) => setTimeout(resolve, 50))
      }
      assert.isAbove(dropped, 0)
      service.child.kill("SIGTERM")
      assert.strictEqual((await service.exited).code, 0)
    } finally {
      await down.close()
    }
  })

  it("a collector that never answers cannot hold the exit past TRACING_SHUTDOWN_TIMEOUT", async () => {
    const hung = await startFaultProxy({ host: "127.0.0.1", port: 9 })
    hung.setMode("blackhole")
    try {
      const { service, port } = await start({
        TRACING_COLLECTOR_URL: `127.0.0.1:${hung.port}`,
        TRACING_SHUTDOWN_TIMEOUT: "1s"
      })
      await sayHello(port, 1n)
      const signalAt = performance.now()
      service.child.kill("SIGTERM")
      assert.strictEqual((await service.exited).code, 0)
      const stoppedAfterMs = performance.now() - signalAt
      console.log(
        `[measure] collector hung: exit ${Math.round(stoppedAfterMs)} ms after SIGTERM (TRACING_SHUTDOWN_TIMEOUT=1s)`
      )
      assert.isBelow(stoppedAfterMs, 3000)
    } finally {
      await hung.close()
    }
  })
})
