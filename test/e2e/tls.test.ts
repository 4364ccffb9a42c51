import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { request as httpsRequest } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type ConnectionOptions, connect as tlsConnect } from "node:tls"
import { assert, layer } from "@effect/vitest"
import { type ChannelCredentials, credentials, status } from "@grpc/grpc-js"
import { Effect, Layer } from "effect"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import { GreeterClient, type SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { unary, within } from "../support/grpc.js"
import { captureLogs } from "../support/logs.js"
import { pollUntil } from "../support/poll.js"
import { httpPort } from "../support/rpc.js"
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
    GRPC_TLS_CLIENT_CA_FILE: join(dirOf, "ca.crt"),
    // The HTTP port takes the gRPC port's files (mTLS too); the probes also on a plain port of their own.
    HEALTH_SERVER_URL: "127.0.0.1:0"
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

/** Whether a TLS handshake with these client options completes (bounded). */
const handshake = (port: number, options: ConnectionOptions) =>
  Effect.promise(
    () =>
      new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca: mine("ca.crt"), ...options })
        const done = (outcome: string) => {
          clearTimeout(timer)
          socket.destroy()
          resolve(outcome)
        }
        const timer = setTimeout(() => done("timeout"), 5000)
        socket.once("secureConnect", () => done(`${socket.getProtocol()} ${socket.getCipher().name}`))
        socket.once("error", () => done("refused"))
      })
  )

const clientCert = { cert: mine("client-greeter-a.crt"), key: mine("client-greeter-a.key") }

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })(
  "TLS on the HTTP port, and the cipher policy",
  (it) => {
    it.scoped(
      "HTTP takes the gRPC port's certificate and client CA: mTLS clients in, others refused, no plaintext",
      () =>
        Effect.gen(function* () {
          const port = yield* httpPort
          const get = (options: { cert?: Buffer; key?: Buffer }) =>
            Effect.promise(
              () =>
                new Promise<number | string>((resolve) => {
                  const request = httpsRequest(
                    {
                      host: "127.0.0.1",
                      port,
                      path: "/v1/users/1",
                      servername: "localhost",
                      ca: mine("ca.crt"),
                      ...options
                    },
                    (response) => {
                      response.resume()
                      resolve(response.statusCode ?? 0)
                    }
                  )
                  request.setTimeout(5000, () => request.destroy(new Error("timeout")))
                  request.on("error", () => resolve("refused"))
                  request.end()
                })
            )
          assert.strictEqual(yield* get(clientCert), 200)
          assert.strictEqual(yield* get({}), "refused")
          const plain = yield* Effect.promise(() =>
            fetch(`http://127.0.0.1:${port}/livez`).then(
              (r) => r.status,
              () => "refused"
            )
          )
          assert.strictEqual(plain, "refused")
        })
    )

    it.scoped("both ports: TLS 1.2+ with forward-secret AEAD suites only", () =>
      Effect.gen(function* () {
        const ports = { http: yield* httpPort, grpc: (yield* GrpcServer).port }
        for (const [name, port] of Object.entries(ports)) {
          const modern = yield* handshake(port, {
            ...clientCert,
            ALPNProtocols: name === "grpc" ? ["h2"] : ["http/1.1"]
          })
          assert.match(modern, /^TLSv1\.3 /, name)
          const aead = yield* handshake(port, {
            ...clientCert,
            maxVersion: "TLSv1.2",
            ciphers: "ECDHE-RSA-AES128-GCM-SHA256"
          })
          assert.strictEqual(aead, "TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256", name)
          for (const ciphers of ["AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256"])
            assert.strictEqual(
              yield* handshake(port, { ...clientCert, maxVersion: "TLSv1.2", ciphers }),
              "refused",
              `${name} ${ciphers}`
            )
          assert.strictEqual(
            yield* handshake(port, {
              ...clientCert,
              minVersion: "TLSv1",
              maxVersion: "TLSv1.1",
              ciphers: "DEFAULT@SECLEVEL=0"
            }),
            "refused",
            `${name} TLS 1.1`
          )
        }
      })
    )

    it.scoped("HEALTH_SERVER_URL: the probes on a plain port of their own, and nothing else there", () =>
      Effect.gen(function* () {
        const line = yield* pollUntil(
          Effect.sync(() => logs.entries.findLast((e) => e.message === "Health server listening")),
          (found) => found !== undefined
        )
        const port = Number(String(line?.address).split(":").at(-1))
        const status = (path: string) =>
          Effect.promise(() => fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status))
        assert.strictEqual(yield* status("/livez"), 200)
        assert.strictEqual(yield* status("/startupz"), 200)
        assert.strictEqual(yield* status("/v1/users/1"), 404)
      })
    )
  }
)
