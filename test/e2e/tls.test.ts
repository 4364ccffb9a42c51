import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, layer } from "@effect/vitest"
import { type ChannelCredentials, credentials, status } from "@grpc/grpc-js"
import { Effect, Layer } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import { GreeterClient, type SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { unary, within } from "../support/grpc.js"
import { captureLogs } from "../support/logs.js"
import { pollUntil } from "../support/poll.js"
import { serviceOnHarness } from "../support/service.js"

// Certificates from the project's own script (npm run certs:dev): ours, and another CA's for an impostor.
const script = new URL("../../scripts/certs-dev.sh", import.meta.url).pathname
const issue = (...clients: ReadonlyArray<string>) => {
  const dir = mkdtempSync(join(tmpdir(), "certs-"))
  execFileSync("bash", [script, dir, ...clients], { stdio: "ignore" })
  return (file: string) => readFileSync(join(dir, file))
}
const foreign = issue("impostor")

const dirOf = (() => {
  const dir = mkdtempSync(join(tmpdir(), "certs-"))
  execFileSync("bash", [script, dir, "greeter-a"], { stdio: "ignore" })
  return dir
})()
const mine = (file: string) => readFileSync(join(dirOf, file))

const logs = captureLogs()
const Service = serviceOnHarness(
  Effect.succeed({
    GRPC_TLS_CERT_FILE: join(dirOf, "server.crt"),
    GRPC_TLS_KEY_FILE: join(dirOf, "server.key"),
    GRPC_TLS_CLIENT_CA_FILE: join(dirOf, "ca.crt")
  })
).pipe(Layer.provide(logs.layer))

const sayHelloWith = (channel: ChannelCredentials) =>
  Effect.gen(function* () {
    const port = (yield* GrpcServer).port
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => new GreeterClient(`localhost:${port}`, channel)),
      (c) => Effect.sync(() => c.close())
    )
    const started = performance.now()
    const result = yield* Effect.either(
      unary<SayHelloResponse>((cb) => client.sayHello({ userId: 1n }, ...within(3000), cb))
    )
    return { result, ms: performance.now() - started }
  })

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("mTLS", (it) => {
  it.scoped("a client with a certificate from our CA gets in, and its subject is the caller in the log", () =>
    Effect.gen(function* () {
      const { result } = yield* sayHelloWith(
        credentials.createSsl(mine("ca.crt"), mine("client-greeter-a.key"), mine("client-greeter-a.crt"))
      )
      assert.strictEqual(result._tag === "Right" ? result.right.message : "", "Hello, Alice!")
      const line = yield* pollUntil(
        Effect.sync(() => logs.entries.find((e) => e.message === "gRPC request completed")),
        (found) => found !== undefined
      )
      assert.strictEqual(line?.caller, "greeter-a")
    })
  )

  const refused = (name: string, channel: () => ChannelCredentials) =>
    it.scoped(`${name}: refused (UNAVAILABLE) within a second, before any handler`, () =>
      Effect.gen(function* () {
        const before = logs.entries.length
        const { result, ms } = yield* sayHelloWith(channel())
        assert.strictEqual(result._tag === "Left" ? result.left.code : status.OK, status.UNAVAILABLE)
        assert.isBelow(ms, 1000)
        assert.isFalse(logs.entries.slice(before).some((e) => String(e.message).startsWith("gRPC request")))
      })
    )

  refused("no client certificate", () => credentials.createSsl(mine("ca.crt")))
  refused("a client certificate from another CA", () =>
    credentials.createSsl(mine("ca.crt"), foreign("client-impostor.key"), foreign("client-impostor.crt"))
  )
  refused("a plaintext client", () => credentials.createInsecure())
})
