import { fileURLToPath } from "node:url"
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js"
import { Duration, Effect } from "effect"
import { afterAll, assert, describe, it } from "vitest"
import { GreeterClient, type SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { clientsFor, unary } from "../support/grpc.js"
import { pollUntil } from "../support/poll.js"
import { freePort } from "../support/ports.js"
import { portOf, START_MS, startService, stopAll } from "../support/process.js"

afterAll(stopAll)

const listening = (line: Record<string, unknown>) => line.message === "gRPC server listening"
const ready = (line: Record<string, unknown>) => line.message === "Service ready"

/** The gRPC port, once the service says it is ready (database prepared, both servers listening). */
const readyPort = async (service: ReturnType<typeof startService>) => {
  await service.waitForLog(ready, START_MS)
  return portOf(await service.waitForLog(listening, 1000))
}

const sayHello = (port: number, userId: bigint) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(clientsFor(port), ({ greeter }) =>
        unary<SayHelloResponse>((cb) => greeter.sayHello({ userId }, cb))
      )
    )
  )

/** The first answer `attempt` gives (undefined: the door is not open yet), tried every 25 ms for at most `ms`. */
const firstAnswer = <A>(attempt: () => Promise<A | undefined>, ms: number) =>
  Effect.runPromise(
    pollUntil(Effect.promise(attempt), (answer) => answer !== undefined, Duration.millis(ms), "25 millis")
  )

/** One SayHello on a new connection: its message or status, or undefined when the port refused the connection. */
const sayHelloOnce = (port: number) =>
  new Promise<string | undefined>((resolve) => {
    const client = new GreeterClient(`127.0.0.1:${port}`, credentials.createInsecure())
    client.sayHello(
      { userId: 1n },
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (error: ServiceError | null, reply) => {
        client.close()
        if (error === null) return resolve(reply.message)
        const refused =
          error.code === status.UNAVAILABLE && /ECONNREFUSED|No connection established/.test(error.details)
        resolve(refused ? undefined : `${status[error.code]}: ${error.details}`)
      }
    )
  })

/** One GET on a new connection: status and body, or undefined when the port refused the connection. */
const getOnce = (port: number, path: string) =>
  fetch(`http://127.0.0.1:${port}${path}`).then(
    async (response) => `${response.status} ${await response.text()}`,
    () => undefined
  )

// Each test starts a process or two: its bound is START_MS per start, and more.
describe("the service process", { timeout: 4 * START_MS }, () => {
  it("starts with no configuration on the embedded Postgres, greets Alice, and exits 0 on SIGTERM", async () => {
    const service = startService({ GRPC_SERVER_URL: "127.0.0.1:0", HTTP_SERVER_URL: "127.0.0.1:0" })
    const port = await readyPort(service)
    assert.isTrue(service.logs.some((l) => String(l.message).startsWith("Using the embedded Postgres")))
    const reply = await sayHello(port, 1n)
    assert.strictEqual(reply.message, "Hello, Alice!")
    assert.strictEqual(reply.user?.email, "alice@example.com")

    service.child.kill("SIGTERM")
    const { code } = await service.exited
    assert.strictEqual(code, 0)
    assert.isTrue(service.logs.some((l) => l.message === "gRPC server stopped"))
  })

  it("opens its ports only once it can answer correctly: the first answer on either door is the seeded user", async () => {
    const [grpcPort, httpPort] = [await freePort(), await freePort()]
    const service = startService({ GRPC_SERVER_URL: `127.0.0.1:${grpcPort}`, HTTP_SERVER_URL: `127.0.0.1:${httpPort}` })
    // Both doors are tried from the moment the process starts: a refused connection means "not open yet", and the
    // first answer each gives must be the right one (not UNAVAILABLE, not NOT_FOUND before the seeds).
    const [grpc, http] = await Promise.all([
      firstAnswer(() => sayHelloOnce(grpcPort), START_MS),
      firstAnswer(() => getOnce(httpPort, "/v1/users/1"), START_MS)
    ])
    assert.strictEqual(grpc, "Hello, Alice!")
    assert.match(http ?? "", /^200 .*"email":"alice@example.com"/)
    // One line says where both listen and how long the start took, after the data was prepared.
    const line = await service.waitForLog(ready, 1000)
    assert.strictEqual(line.grpc, `127.0.0.1:${grpcPort}`)
    assert.strictEqual(line.http, `http://127.0.0.1:${httpPort}`)
    assert.isAbove(Number(line.startup_ms), 0)
    const order = service.logs.map((l) => String(l.message))
    assert.isBelow(order.indexOf("Seed data applied"), order.indexOf("HTTP server listening"))
    assert.isBelow(order.indexOf("Seed data applied"), order.indexOf("gRPC server listening"))
    service.child.kill("SIGTERM")
    assert.strictEqual((await service.exited).code, 0)
  })

  it("starts and answers with REDIS_ADDR set but no Redis there (the cache fails open)", async () => {
    const service = startService({
      GRPC_SERVER_URL: "127.0.0.1:0",
      HTTP_SERVER_URL: "127.0.0.1:0",
      REDIS_ADDR: "127.0.0.1:1"
    })
    const port = await readyPort(service)
    const started = performance.now()
    assert.strictEqual((await sayHello(port, 1n)).message, "Hello, Alice!")
    assert.strictEqual((await sayHello(port, 2n)).message, "Hello, Bob!")
    assert.isBelow(performance.now() - started, 1000)
    service.child.kill("SIGTERM")
    assert.strictEqual((await service.exited).code, 0)
  })

  it("exits 0 on SIGINT too", async () => {
    const service = startService({ GRPC_SERVER_URL: "127.0.0.1:0", HTTP_SERVER_URL: "127.0.0.1:0" })
    await service.waitForLog(ready, START_MS)
    service.child.kill("SIGINT")
    assert.strictEqual((await service.exited).code, 0)
  })

  it("during SHUTDOWN_DELAY: /readyz says shutting down, /livez still answers; a second signal exits at once", async () => {
    const service = startService({
      GRPC_SERVER_URL: "127.0.0.1:0",
      HTTP_SERVER_URL: "127.0.0.1:0",
      SHUTDOWN_DELAY: "30s"
    })
    await service.waitForLog(ready, START_MS)
    const http = Number(
      String((await service.waitForLog((l) => l.message === "HTTP server listening", 1000)).address)
        .split(":")
        .at(-1)
    )
    service.child.kill("SIGTERM")
    await service.waitForLog((l) => l.message === "Not ready: draining", 5000)
    const readyz = await fetch(`http://127.0.0.1:${http}/readyz`)
    assert.strictEqual(readyz.status, 503)
    assert.deepStrictEqual(await readyz.json(), { status: "unready", details: { service: "shutting down" } })
    assert.strictEqual((await fetch(`http://127.0.0.1:${http}/livez`)).status, 200)
    const secondAt = performance.now()
    service.child.kill("SIGTERM")
    const { code } = await service.exited
    assert.strictEqual(code, 130)
    assert.isBelow(performance.now() - secondAt, 2000)
  })

  it("db:seed and db:migrate refuse to run against nothing (no DATABASE_DSN, no DATABASE_EMBEDDED_DIR)", async () => {
    for (const command of ["seed", "migrate"]) {
      const script = fileURLToPath(new URL(`../../src/main/cli/${command}.ts`, import.meta.url))
      const run = startService({}, script)
      const { code } = await run.exited
      assert.notStrictEqual(code, 0, command)
      assert.isTrue(
        run.logs.some((line) => String(line.message).includes("DATABASE_DSN: set it")),
        `${command}: ${JSON.stringify(run.logs)}`
      )
    }
  })

  it("refuses to start on invalid configuration, naming every bad variable, with a non-zero exit", async () => {
    const service = startService({
      GRPC_SERVER_URL: "5000",
      DATABASE_POOL_MAX_OPEN: "many",
      DATABASE_DSN: "mysql://admin:s3cret@db/app"
    })
    const { code } = await service.exited
    assert.strictEqual(code, 1)
    const error = service.logs.find((l) => l.level === "error")
    assert.match(String(error?.message), /^Invalid configuration: /)
    assert.deepStrictEqual(((error?.invalid ?? []) as ReadonlyArray<string>).map((p) => p.split(":")[0]).sort(), [
      "DATABASE_DSN",
      "DATABASE_POOL_MAX_OPEN",
      "GRPC_SERVER_URL"
    ])
    assert.notInclude(JSON.stringify(service.logs), "s3cret")
  })
})
