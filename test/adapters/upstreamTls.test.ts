import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Server, ServerCredentials } from "@grpc/grpc-js"
import { Duration, Effect, Option } from "effect"
import { GreeterService } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { GrpcUpstreamGreeterLive } from "../../src/adapters/grpc/UpstreamGreeterClient.js"
import { UserId } from "../../src/domain/User.js"
import { UpstreamGreeter } from "../../src/ports/UpstreamGreeter.js"

const dir = mkdtempSync(join(tmpdir(), "certs-"))
execFileSync("bash", [new URL("../../scripts/certs-dev.sh", import.meta.url).pathname, dir, "greeter-a"], {
  stdio: "ignore"
})
const file = (name: string) => join(dir, name)

/** An upstream Greeter over mTLS that remembers the CN of each caller's certificate. */
const upstreamServer = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly callers: Array<string>; readonly server: Server }, Error>((resume) => {
    const callers: Array<string> = []
    const server = new Server()
    server.addService(GreeterService, {
      sayHello: (
        call: {
          request: { userId: bigint }
          getAuthContext: () => { sslPeerCertificate?: { subject?: { CN?: string | Array<string> } } }
        },
        callback: (error: null, value: unknown) => void
      ) => {
        callers.push(String(call.getAuthContext().sslPeerCertificate?.subject?.CN ?? ""))
        callback(null, { message: "Hello!", user: { id: call.request.userId, name: "X", email: "x@example.com" } })
      }
    })
    const credentials = ServerCredentials.createSsl(
      readFileSync(file("ca.crt")),
      [{ cert_chain: readFileSync(file("server.crt")), private_key: readFileSync(file("server.key")) }],
      true
    )
    server.bindAsync("127.0.0.1:0", credentials, (error, port) =>
      resume(error ? Effect.fail(error) : Effect.succeed({ port, callers, server }))
    )
  }),
  ({ server }) => Effect.sync(() => server.forceShutdown())
)

const upstreamWith = (port: number, clientCertificate: boolean) =>
  GrpcUpstreamGreeterLive({
    address: `localhost:${port}`,
    timeout: Duration.seconds(2),
    breakerThreshold: 5,
    breakerResetAfter: Duration.seconds(2),
    tls: {
      caFile: Option.some(file("ca.crt")),
      certFile: clientCertificate ? Option.some(file("client-greeter-a.crt")) : Option.none(),
      keyFile: clientCertificate ? Option.some(file("client-greeter-a.key")) : Option.none()
    }
  })

const sayHello = Effect.flatMap(UpstreamGreeter, (upstream) => upstream.sayHello(UserId.make(1n)))

describe("UpstreamGreeter over mTLS (GREETER_UPSTREAM_TLS_*)", () => {
  it.scoped("presents its client certificate, which the upstream sees as the caller", () =>
    Effect.gen(function* () {
      const { port, callers } = yield* upstreamServer
      yield* sayHello.pipe(Effect.provide(upstreamWith(port, true)))
      assert.deepStrictEqual(callers, ["greeter-a"])
    })
  )

  it.scoped("without a client certificate the upstream refuses it: UNAVAILABLE from the dependency", () =>
    Effect.gen(function* () {
      const { port, callers } = yield* upstreamServer
      const error = yield* Effect.flip(sayHello.pipe(Effect.provide(upstreamWith(port, false))))
      assert.strictEqual(error._tag, "DependencyUnavailable")
      assert.deepStrictEqual(callers, [])
    })
  )
})
