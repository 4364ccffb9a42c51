import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, layer } from "@effect/vitest"
import { Metadata, status } from "@grpc/grpc-js"
import { Effect } from "effect"
import { exportJWK, generateKeyPair, SignJWT } from "jose"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import type { SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { clientsFor, statusOf, unary } from "../support/grpc.js"
import { serviceOnHarness } from "../support/service.js"

// An RS256 key pair: the public half in a JWKS file for the service, the private half signs the test's tokens.
const { publicKey, privateKey } = await generateKeyPair("RS256")
const other = await generateKeyPair("RS256")
const jwksFile = join(mkdtempSync(join(tmpdir(), "jwks-")), "jwks.json")
writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256" }] }))

const Service = serviceOnHarness(Effect.succeed({ AUTH_JWKS_FILE: jwksFile }))

const sign = (key: Parameters<SignJWT["sign"]>[0]) =>
  Effect.promise(() =>
    new SignJWT({ scope: "users:read" })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setSubject("svc")
      .setExpirationTime("5m")
      .sign(key)
  )

const sayHello = (authorization: string) =>
  Effect.flatMap(GrpcServer, (server) =>
    Effect.flatMap(clientsFor(server.port), ({ greeter }) => {
      const metadata = new Metadata()
      metadata.set("authorization", authorization)
      return unary<SayHelloResponse>((cb) => greeter.sayHello({ userId: 1n }, metadata, cb))
    })
  )

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("JWT with keys from AUTH_JWKS_FILE", (it) => {
  it.scoped("a token signed by a key of the file gets in; one signed by another key does not", () =>
    Effect.gen(function* () {
      assert.strictEqual((yield* sayHello(`Bearer ${yield* sign(privateKey)}`)).message, "Hello, Alice!")
      assert.deepStrictEqual(yield* statusOf(sayHello(`Bearer ${yield* sign(other.privateKey)}`)), {
        code: status.UNAUTHENTICATED,
        details: "unauthenticated: token signature does not verify"
      })
    })
  )

  it.scoped("an oversized authorization value is refused before parsing", () =>
    Effect.gen(function* () {
      const started = performance.now()
      assert.deepStrictEqual(yield* statusOf(sayHello(`Bearer ${"a".repeat(9000)}`)), {
        code: status.UNAUTHENTICATED,
        details: "unauthenticated: token too large"
      })
      assert.isBelow(performance.now() - started, 2000)
    })
  )
})
