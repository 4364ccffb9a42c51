// A rolling switch from the Go boilerplate in miniature (docs/migrating-from-go.md): this service started on the Go
// service's own .env.example, sharing one Redis with it. The Go side is played by the values it writes and by a
// decoder that reads values as Go's encoding/json does.
import { readFileSync } from "node:fs"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { afterAll } from "vitest"
import type { SayHelloResponse } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { clientsFor, unary } from "../support/grpc.js"
import { OwnRedis, OwnRedisLive } from "../support/OwnRedis.js"
import { pollUntil } from "../support/poll.js"
import { message, portOf, START_MS, startService, stopAll } from "../support/process.js"
import { SeededDatabase } from "../support/service.js"
import { FreshDatabaseUrl } from "../support/TestDatabase.js"

afterAll(stopAll)

// The Go boilerplate's .env.example (SagarMaheshwary/go-microservice-boilerplate), as a team would bring it.
const GO_ENV = readFileSync(new URL("../fixtures/go-boilerplate.env", import.meta.url), "utf8")

/** What Go's json.Unmarshal into model.User makes of a value: keys ignoring case, ID an unsigned integer. */
const goUnmarshalUser = (text: string) => {
  const value: Record<string, unknown> = JSON.parse(text)
  const get = (name: string) => Object.entries(value).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1]
  const id = /"id"\s*:\s*(\d+)\s*[,}]/i.exec(text)?.[1]
  const [name, email] = [get("Name"), get("Email")]
  if (typeof get("ID") !== "number" || id === undefined || typeof name !== "string" || typeof email !== "string")
    throw new Error(`Go cannot decode ${text}`)
  return { ID: BigInt(id), Name: name, Email: email }
}

layer(Layer.merge(SeededDatabase, OwnRedisLive()), { excludeTestServices: true, timeout: "180 seconds" })(
  "switching from the Go service",
  (it) => {
    it.scoped(
      "starts on the Go .env.example with no warning, and shares Redis with Go both ways (user:<id> in Go's format)",
      () =>
        Effect.gen(function* () {
          const { url } = yield* FreshDatabaseUrl
          const { server, client } = yield* OwnRedis
          // Where this machine's Postgres and Redis are, and free ports, over the Go file's values.
          const service = startService(
            {
              DATABASE_DSN: Redacted.value(url),
              REDIS_ADDR: new URL(server.url).host,
              GRPC_SERVER_URL: "127.0.0.1:0",
              HTTP_SERVER_URL: "127.0.0.1:0",
              DATABASE_MIGRATE: "false"
            },
            undefined,
            GO_ENV
          )
          yield* Effect.promise(() => service.waitForLog(message("Service ready"), START_MS))
          const port = portOf(yield* Effect.promise(() => service.waitForLog(message("gRPC server listening"), 1000)))
          const warnings = service.logs.filter((line) => line.level === "warn" || line.level === "error")
          assert.deepStrictEqual(warnings, [])

          // A value the Go service cached (its times included) is served as a hit.
          yield* Effect.promise(() =>
            client.set(
              "user:1",
              '{"ID":1,"Name":"Gopher","Email":"alice@example.com","CreatedAt":"2024-01-01T00:00:00.123456789Z","UpdatedAt":"0001-01-01T00:00:00Z"}'
            )
          )
          const clients = yield* clientsFor(port)
          const sayHello = (userId: bigint) => unary<SayHelloResponse>((cb) => clients.greeter.sayHello({ userId }, cb))
          assert.strictEqual((yield* sayHello(1n)).message, "Hello, Gopher!")

          // A value this service cached on a miss decodes in Go as the same user.
          yield* Effect.promise(() => client.del("user:2"))
          assert.strictEqual((yield* sayHello(2n)).message, "Hello, Bob!")
          const stored = yield* pollUntil(
            Effect.promise(() => client.get("user:2")),
            (value) => value !== null,
            "5 seconds",
            "25 millis"
          )
          assert.deepStrictEqual(goUnmarshalUser(stored ?? ""), { ID: 2n, Name: "Bob", Email: "bob@example.com" })
          service.child.kill("SIGTERM")
          yield* Effect.promise(() => service.exited)
        })
    )
  }
)
