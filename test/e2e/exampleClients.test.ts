import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { afterAll, it } from "vitest"
import { serviceAddresses } from "../../scripts/serviceAddresses.js"
import { freePort } from "../support/ports.js"
import { runScript, START_MS, stopAll } from "../support/process.js"
import { readyServiceProcess, SeededDatabase } from "../support/service.js"

afterAll(stopAll)

// The example clients take the server's own settings: GRPC_SERVER_URL and HTTP_SERVER_URL, from the environment
// or `.env`, in Go's host:port syntax, so a user who moved the ports runs them with the same settings.

/** A script's run: bounded generously (tsx compiles the script and what it imports on a machine that may be busy). */
const run = (script: string, env: Record<string, string>, cwd: string) =>
  Effect.promise(() => runScript(script, [], { env, cwd, ms: 60_000 }))

const emptyDir = () => mkdtempSync(join(tmpdir(), "client-"))

layer(SeededDatabase, { excludeTestServices: true, timeout: "180 seconds" })("the example clients", (it) => {
  it.scoped(
    "npm run hello and npm run example:client reach a service on moved ports, through the environment or .env",
    () =>
      Effect.gen(function* () {
        const [grpc, http] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
        // Go's form, ":port": the server listens on every interface, the clients dial localhost.
        const env = { GRPC_SERVER_URL: `:${grpc}`, HTTP_SERVER_URL: `:${http}` }
        const service = yield* readyServiceProcess(env, START_MS)
        assert.strictEqual(service.grpcPort, grpc)
        assert.strictEqual(service.httpPort, http)

        const expectGreeted = (result: { code: number | null; stdout: string; stderr: string }, what: string) => {
          assert.strictEqual(result.code, 0, `${what}: ${result.stderr}`)
          assert.include(result.stdout, "Hello, Alice!", what)
          assert.include(result.stdout, "alice@example.com", what)
        }

        // 1. The same variables in the environment.
        expectGreeted(yield* run("scripts/hello.ts", env, emptyDir()), "hello, environment")
        const viaEnv = yield* run("scripts/example-client.ts", env, emptyDir())
        expectGreeted(viaEnv, "example:client, environment")
        assert.include(viaEnv.stdout, `localhost:${grpc}`)
        assert.include(viaEnv.stdout, `http://localhost:${http}/rpc`)

        // 2. The same settings in a .env file of the working directory, as the server reads it.
        const withDotEnv = emptyDir()
        writeFileSync(
          join(withDotEnv, ".env"),
          `GRPC_SERVER_URL=127.0.0.1:${grpc}\nHTTP_SERVER_URL=127.0.0.1:${http}\n`
        )
        expectGreeted(yield* run("scripts/hello.ts", {}, withDotEnv), "hello, .env")
        const viaDotEnv = yield* run("scripts/example-client.ts", {}, withDotEnv)
        expectGreeted(viaDotEnv, "example:client, .env")
        assert.include(viaDotEnv.stdout, `127.0.0.1:${grpc}`)

        // 3. The environment wins over .env, as for the server.
        const staleDotEnv = emptyDir()
        writeFileSync(join(staleDotEnv, ".env"), "GRPC_SERVER_URL=127.0.0.1:1\nHTTP_SERVER_URL=127.0.0.1:1\n")
        expectGreeted(yield* run("scripts/hello.ts", env, staleDotEnv), "hello, environment over .env")
        expectGreeted(
          yield* run("scripts/example-client.ts", env, staleDotEnv),
          "example:client, environment over .env"
        )

        // 4. An invalid setting is refused with its name, before any call.
        const invalid = yield* run("scripts/hello.ts", { GRPC_SERVER_URL: "localhost" }, emptyDir())
        assert.strictEqual(invalid.code, 2)
        assert.include(invalid.stderr, "GRPC_SERVER_URL=localhost")
      }),
    { timeout: 180_000 }
  )
})

describe("serviceAddresses: the server's settings as a client dials them", () => {
  const none = join(tmpdir(), "no-such-dir", ".env")
  it("defaults to the server's :5000 and :4000, on localhost", () => {
    assert.deepStrictEqual(serviceAddresses({}, none), { grpc: "localhost:5000", http: "http://localhost:4000" })
  })
  it("dials localhost for an address on every interface, and a named host as it is", () => {
    const dial = (grpc: string) => serviceAddresses({ GRPC_SERVER_URL: grpc }, none).grpc
    assert.strictEqual(dial(":5001"), "localhost:5001")
    assert.strictEqual(dial("0.0.0.0:5001"), "localhost:5001")
    assert.strictEqual(dial("[::]:5001"), "localhost:5001")
    assert.strictEqual(dial("[::1]:5001"), "[::1]:5001")
    assert.strictEqual(dial("greeter.internal:7000"), "greeter.internal:7000")
    assert.strictEqual(serviceAddresses({ HTTP_SERVER_URL: "127.0.0.1:8080" }, none).http, "http://127.0.0.1:8080")
  })
  it("refuses what the server would refuse, and port 0 (picked by the server at start)", () => {
    assert.throws(() => serviceAddresses({ GRPC_SERVER_URL: "localhost" }, none), /GRPC_SERVER_URL=localhost/)
    assert.throws(() => serviceAddresses({ HTTP_SERVER_URL: "http://localhost:4000" }, none), /HTTP_SERVER_URL/)
    assert.throws(() => serviceAddresses({ GRPC_SERVER_URL: "127.0.0.1:0" }, none), /port 0/)
  })
})
