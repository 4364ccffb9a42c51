import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Option, Redacted } from "effect"
import { parseGoDuration, parseListenAddress } from "../../src/adapters/config/Settings.js"
import { envConfigProvider, loadConfig, ServiceConfig } from "../../src/main/Config.js"

const load = (env: Record<string, string>) =>
  loadConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("configuration", () => {
  it("parses Go durations", () => {
    assert.deepStrictEqual(parseGoDuration("1h").pipe(Option.map(Duration.toMillis)), Option.some(3_600_000))
    assert.deepStrictEqual(parseGoDuration("1m30s").pipe(Option.map(Duration.toMillis)), Option.some(90_000))
    assert.deepStrictEqual(parseGoDuration("250ms").pipe(Option.map(Duration.toMillis)), Option.some(250))
    assert.deepStrictEqual(parseGoDuration("0").pipe(Option.map(Duration.toMillis)), Option.some(0))
    for (const bad of ["5", "5 seconds", "-1s", "1d", ""]) assert.isTrue(Option.isNone(parseGoDuration(bad)), bad)
  })

  it("parses Go listen addresses", () => {
    assert.deepStrictEqual(parseListenAddress(":5000"), Option.some({ host: "", port: 5000 }))
    assert.deepStrictEqual(parseListenAddress("127.0.0.1:0"), Option.some({ host: "127.0.0.1", port: 0 }))
    assert.deepStrictEqual(parseListenAddress("[::1]:5000"), Option.some({ host: "::1", port: 5000 }))
    assert.deepStrictEqual(parseListenAddress("localhost:5000"), Option.some({ host: "localhost", port: 5000 }))
    for (const bad of ["5000", ":70000", "host:", "a b:1"]) assert.isTrue(Option.isNone(parseListenAddress(bad)), bad)
  })

  it.effect("defaults to the Go service's values and the embedded database", () =>
    Effect.gen(function* () {
      const config = yield* load({})
      assert.deepStrictEqual(config.grpc.address, { host: "", port: 5000 })
      assert.strictEqual(config.grpc.maxReceiveMessageBytes, 1024 * 1024)
      assert.isTrue(Option.isNone(config.database.dsn))
      assert.strictEqual(Duration.toMillis(config.database.poolMaxLifetime), 3_600_000)
      assert.strictEqual(config.log.format, "json")
    })
  )

  it.effect("maps the Go service's pool and log settings to their nearest equivalents", () =>
    Effect.gen(function* () {
      const config = yield* load({
        LOG_LEVEL: "warn",
        DATABASE_POOL_MAX_IDLE: "10",
        REDIS_ADDR: "localhost:6379",
        REDIS_WRITE_TIMEOUT: "3s"
      })
      assert.strictEqual(config.log.level, "warn")
      assert.strictEqual(config.database.poolMaxIdle, 10)
      assert.strictEqual(Duration.toMillis(config.redis.settings.writeTimeout), 3000)
    })
  )

  it.effect("names every invalid variable at once and never echoes a secret", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        load({
          GRPC_SERVER_URL: "5000",
          DATABASE_DSN: "mysql://user:hunter2@db/app",
          DATABASE_POOL_MAX_OPEN: "lots",
          DATABASE_POOL_MAX_LIFETIME: "1 hour",
          LOG_LEVEL: "loud"
        })
      )
      const names = error.problems.map((line) => line.split(":")[0]).sort()
      assert.deepStrictEqual(names, [
        "DATABASE_DSN",
        "DATABASE_POOL_MAX_LIFETIME",
        "DATABASE_POOL_MAX_OPEN",
        "GRPC_SERVER_URL",
        "LOG_LEVEL"
      ])
      assert.notInclude(error.message, "hunter2")
    })
  )

  it.effect("never replaces an invalid value by the default", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(load({ DATABASE_POOL_MAX_OPEN: "0" }))
      assert.deepStrictEqual(error.problems, ['DATABASE_POOL_MAX_OPEN: Expected an integer from 1 to 1000, got "0"'])
    })
  )

  it.effect(
    "an HS256 secret under 32 bytes, or none with AUTH_REQUIRED=true, is a configuration error naming the variable",
    () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(load({ AUTH_JWT_SECRET: "x" }))
        assert.deepStrictEqual(error.problems, ["AUTH_JWT_SECRET: must be at least 32 bytes (256 bits) long"])
        const open = yield* Effect.flip(load({ AUTH_REQUIRED: "true" }))
        assert.deepStrictEqual(open.problems, [
          "AUTH_JWT_SECRET: AUTH_REQUIRED=true: set AUTH_JWT_SECRET (32 bytes or more) or AUTH_JWKS_FILE"
        ])
        const config = yield* load({ AUTH_JWT_SECRET: "s".repeat(32) })
        assert.strictEqual(Option.map(config.edge.auth, (auth) => auth.key._tag).pipe(Option.getOrNull), "Secret")
        assert.strictEqual(Option.map(config.edge.auth, (auth) => auth.maxTokenTtlSeconds).pipe(Option.getOrNull), 3600)
      })
  )

  it.effect(
    "TLS files go together: a certificate without its key, or a client CA without a certificate, is refused",
    () =>
      Effect.gen(function* () {
        const noKey = yield* Effect.flip(load({ GRPC_TLS_CERT_FILE: "/etc/tls/server.crt" }))
        assert.deepStrictEqual(noKey.problems, [
          "GRPC_TLS_KEY_FILE: GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE go together"
        ])
        const caOnly = yield* Effect.flip(load({ GRPC_TLS_CLIENT_CA_FILE: "/etc/tls/ca.crt" }))
        assert.match(caOnly.problems[0] ?? "", /^GRPC_TLS_CLIENT_CA_FILE: mTLS needs the server's own certificate/)
      })
  )

  it.effect("reads .env under the environment, and treats empty values as unset", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "env-"))
      writeFileSync(join(dir, ".env"), "DATABASE_DSN=postgres://file@db/app\nGRPC_SERVER_URL=:6000\nLOG_LEVEL=debug\n")
      const provider = envConfigProvider({ GRPC_SERVER_URL: "127.0.0.1:7000", LOG_LEVEL: "" }, join(dir, ".env"))
      const config = yield* ServiceConfig.pipe(Effect.withConfigProvider(provider))
      assert.strictEqual(
        Option.map(config.database.dsn, Redacted.value).pipe(Option.getOrNull),
        "postgres://file@db/app"
      )
      assert.deepStrictEqual(config.grpc.address, { host: "127.0.0.1", port: 7000 })
      assert.strictEqual(config.log.level, "debug")
    })
  )
})
