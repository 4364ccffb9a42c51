import { assert, layer } from "@effect/vitest"
import { credentials, Metadata, status } from "@grpc/grpc-js"
import { Effect, Layer } from "effect"
import { SignJWT } from "jose"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import { type HealthCheckResponse, HealthClient } from "../../src/adapters/grpc/generated/grpc/health/v1/health.js"
import type { SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import type { CreateUserResponse } from "../../src/adapters/grpc/generated/users/v1/users.js"
import { clientsFor, listServicesByReflection, statusOf, unary } from "../support/grpc.js"
import { captureLogs } from "../support/logs.js"
import { serviceOnHarness } from "../support/service.js"

const SECRET = "test-secret-at-least-32-bytes-long-0123456789"
const logs = captureLogs()
const Service = serviceOnHarness(
  Effect.succeed({ AUTH_JWT_SECRET: SECRET, AUTH_ISSUER: "https://issuer.example", AUTH_AUDIENCE: "greeter" })
).pipe(Layer.provide(logs.layer))

const sign = (
  claims: Record<string, unknown>,
  options: { secret?: string; expiresIn?: string | number; issuer?: string; audience?: string } = {}
) =>
  Effect.promise(() =>
    new SignJWT({ scope: "users:read", ...claims })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice-service")
      .setIssuer(options.issuer ?? "https://issuer.example")
      .setAudience(options.audience ?? "greeter")
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? "5m")
      .sign(new TextEncoder().encode(options.secret ?? SECRET))
  )

const withToken = (authorization: string | undefined) => {
  const metadata = new Metadata()
  if (authorization !== undefined) metadata.set("authorization", authorization)
  return metadata
}

const sayHello = (authorization: string | undefined) =>
  Effect.flatMap(GrpcServer, (server) =>
    Effect.flatMap(clientsFor(server.port), ({ greeter }) =>
      unary<SayHelloResponse>((cb) => greeter.sayHello({ userId: 1n }, withToken(authorization), cb))
    )
  )

layer(Service, { excludeTestServices: true, timeout: "60 seconds" })("JWT authentication", (it) => {
  it.scoped("a valid token gets in", () =>
    Effect.gen(function* () {
      const token = yield* sign({})
      assert.strictEqual((yield* sayHello(`Bearer ${token}`)).message, "Hello, Alice!")
    })
  )

  it.scoped("missing, malformed, expired, wrongly signed, wrong audience or issuer: UNAUTHENTICATED, fast", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, string | undefined, string]> = [
        ["missing", undefined, "unauthenticated: missing bearer token (authorization metadata)"],
        ["not bearer", "Basic dXNlcjpwYXNz", "unauthenticated: authorization is not a bearer token"],
        ["malformed", "Bearer not.a.jwt", "unauthenticated: token is malformed"],
        [
          "expired",
          `Bearer ${yield* sign({}, { expiresIn: Math.floor(Date.now() / 1000) - 3600 })}`,
          "unauthenticated: token expired"
        ],
        [
          "wrong key",
          `Bearer ${yield* sign({}, { secret: "another-secret-of-at-least-32-bytes-000000" })}`,
          "unauthenticated: token signature does not verify"
        ],
        [
          "wrong audience",
          `Bearer ${yield* sign({}, { audience: "someone-else" })}`,
          "unauthenticated: token claim aud is not accepted"
        ],
        [
          "wrong issuer",
          `Bearer ${yield* sign({}, { issuer: "https://evil.example" })}`,
          "unauthenticated: token claim iss is not accepted"
        ]
      ]
      for (const [name, authorization, details] of cases) {
        const started = performance.now()
        const answer = yield* statusOf(sayHello(authorization))
        assert.deepStrictEqual(answer, { code: status.UNAUTHENTICATED, details }, name)
        assert.isBelow(performance.now() - started, 2000, name)
      }
    })
  )

  it.scoped("no exp, issued in the future, or living longer than AUTH_MAX_TOKEN_TTL: UNAUTHENTICATED", () =>
    Effect.gen(function* () {
      const now = Math.floor(Date.now() / 1000)
      const unsigned = () =>
        new SignJWT({ scope: "users:read" })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice-service")
          .setIssuer("https://issuer.example")
          .setAudience("greeter")
      const key = new TextEncoder().encode(SECRET)
      const cases = [
        ["no exp", unsigned().setIssuedAt(), "unauthenticated: token claim exp is not accepted"],
        [
          "iat an hour ahead",
          unsigned()
            .setIssuedAt(now + 3600)
            .setExpirationTime(now + 3900),
          "unauthenticated: token claim iat is in the future"
        ],
        [
          "lives 2 h (AUTH_MAX_TOKEN_TTL is 1 h)",
          unsigned()
            .setIssuedAt(now)
            .setExpirationTime(now + 7200),
          "unauthenticated: token lifetime exceeds AUTH_MAX_TOKEN_TTL"
        ],
        [
          "no iat, expires in 2 h",
          unsigned().setExpirationTime(now + 7200),
          "unauthenticated: token lifetime exceeds AUTH_MAX_TOKEN_TTL"
        ]
      ] as const
      for (const [name, jwt, details] of cases) {
        const token = yield* Effect.promise(() => jwt.sign(key))
        assert.deepStrictEqual(
          yield* statusOf(sayHello(`Bearer ${token}`)),
          { code: status.UNAUTHENTICATED, details },
          name
        )
      }
      // Within bounds: issued 10 s ahead (inside the 30 s skew), living 59 minutes.
      const fine = yield* Effect.promise(() =>
        unsigned()
          .setIssuedAt(now + 10)
          .setExpirationTime(now + 3550)
          .sign(key)
      )
      assert.strictEqual((yield* sayHello(`Bearer ${fine}`)).message, "Hello, Alice!")
    })
  )

  it.scoped("a token within the clock skew is still accepted", () =>
    Effect.gen(function* () {
      const token = yield* sign({}, { expiresIn: Math.floor(Date.now() / 1000) - 10 })
      assert.strictEqual((yield* sayHello(`Bearer ${token}`)).message, "Hello, Alice!")
    })
  )

  it.scoped("writes need the write scope: PERMISSION_DENIED without it", () =>
    Effect.gen(function* () {
      const { users } = yield* clientsFor((yield* GrpcServer).port)
      const create = (token: string) =>
        unary<CreateUserResponse>((cb) =>
          users.createUser(
            { name: "Scoped", email: `scoped${Date.now()}@example.com` },
            withToken(`Bearer ${token}`),
            cb
          )
        )
      assert.deepStrictEqual(yield* statusOf(create(yield* sign({ scope: "users:read" }))), {
        code: status.PERMISSION_DENIED,
        details: "permission denied: requires scope users:write"
      })
      assert.strictEqual((yield* create(yield* sign({ scope: "users:read users:write" }))).user?.name, "Scoped")
    })
  )

  it.scoped("health and reflection stay public", () =>
    Effect.gen(function* () {
      const port = (yield* GrpcServer).port
      const health = yield* Effect.acquireRelease(
        Effect.sync(() => new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure())),
        (c) => Effect.sync(() => c.close())
      )
      const answer = yield* unary<HealthCheckResponse>((cb) => health.check({ service: "" }, cb))
      assert.isAbove(answer.status, 0)
      assert.include(yield* listServicesByReflection(port), "hello_world.Greeter")
    })
  )

  it.scoped("tokens never reach the logs", () =>
    Effect.gen(function* () {
      const token = yield* sign({ scope: "users:read" })
      yield* sayHello(`Bearer ${token}`)
      yield* statusOf(sayHello(`Bearer ${token}x`))
      const written = JSON.stringify(logs.entries)
      assert.notInclude(written, token.split(".")[2] ?? "never")
      assert.include(written, '"subject":"alice-service"')
    })
  )
})
