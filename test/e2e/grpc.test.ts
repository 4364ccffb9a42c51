import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { SqlClient } from "@effect/sql"
import { assert, describe, layer } from "@effect/vitest"
import { status } from "@grpc/grpc-js"
import { Effect, Fiber, Layer } from "effect"
import { inject } from "vitest"
import { GrpcServer } from "../../src/adapters/grpc/GrpcServer.js"
import type {
  CreateUserResponse,
  DeleteUserResponse,
  GetUserResponse,
  ListUsersResponse,
  UpdateUserResponse,
  UserServiceClient
} from "../../src/adapters/grpc/generated/users/v1/users.js"
import { clientsFor, listServicesByReflection, statusOf, unary, within } from "../support/grpc.js"
import { captureLogs } from "../support/logs.js"
import { pollUntil } from "../support/poll.js"
import { serviceOnHarness } from "../support/service.js"

const logs = captureLogs()

const Service = serviceOnHarness().pipe(Layer.provide(logs.layer))

const json = (value: unknown) =>
  JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)))

/** Every page ListUsers gives with `pageSize`, following the tokens from the first page to the one without (bounded). */
const allPages = (users: UserServiceClient, pageSize: number) =>
  Effect.gen(function* () {
    const pages: Array<ListUsersResponse> = []
    let pageToken = ""
    do {
      const page = yield* unary<ListUsersResponse>((cb) => users.listUsers({ pageSize, pageToken }, cb))
      pages.push(page)
      pageToken = page.nextPageToken
    } while (pageToken !== "" && pages.length < 1000)
    return pages
  })

/** Each page's users as [id, name], to compare listings. */
const idsAndNames = (pages: ReadonlyArray<ListUsersResponse>) =>
  pages.map((page) => page.users.map((u): readonly [string, string] => [String(u.id), u.name]))

/** `items` in runs of `size`, as pages of that size hold them. */
const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<Array<A>> =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

layer(Service, { timeout: "60 seconds", excludeTestServices: true })("gRPC end to end", (it) => {
  it.scoped("SayHello greets Alice like the Go service", () =>
    Effect.gen(function* () {
      const { greeter } = yield* clientsFor((yield* GrpcServer).port)
      const reply = yield* unary((cb) => greeter.sayHello({ userId: 1n }, cb))
      assert.deepStrictEqual(json(reply), {
        message: "Hello, Alice!",
        user: { id: "1", name: "Alice", email: "alice@example.com" }
      })
    })
  )

  it.scoped("the README's call works through reflection with the proto's field names (buf curl --reflect)", () =>
    Effect.gen(function* () {
      const port = (yield* GrpcServer).port
      // buf (from the dev dependencies) stands in for grpcurl: it reads the schema only from the server's reflection.
      const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url))
      const { stdout } = yield* Effect.promise(() =>
        promisify(execFile)(
          buf,
          [
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "--reflect",
            "-d",
            '{"user_id": 1}',
            `http://127.0.0.1:${port}/hello_world.Greeter/SayHello`
          ],
          { timeout: 30_000 }
        )
      )
      const reply: { message?: string; user?: Record<string, unknown> } = JSON.parse(stdout)
      assert.strictEqual(reply.message, "Hello, Alice!")
      assert.strictEqual(reply.user?.email, "alice@example.com")
    })
  )

  it.scoped("SayHello answers NOT_FOUND for an unknown id and INVALID_ARGUMENT naming user_id for a bad one", () =>
    Effect.gen(function* () {
      const { greeter } = yield* clientsFor((yield* GrpcServer).port)
      assert.deepStrictEqual(yield* statusOf(unary((cb) => greeter.sayHello({ userId: 999n }, cb))), {
        code: status.NOT_FOUND,
        details: "user 999 not found"
      })
      // Beyond 2^53 the id stays exact: no rounding to a neighbour that might exist.
      assert.deepStrictEqual(yield* statusOf(unary((cb) => greeter.sayHello({ userId: 9007199254740993n }, cb))), {
        code: status.NOT_FOUND,
        details: "user 9007199254740993 not found"
      })
      for (const userId of [0n, -5n]) {
        assert.deepStrictEqual(yield* statusOf(unary((cb) => greeter.sayHello({ userId }, cb))), {
          code: status.INVALID_ARGUMENT,
          details: "invalid user_id: must be a positive 64-bit integer"
        })
      }
    })
  )

  it.scoped("UserService: create, get, list, update, delete", () =>
    Effect.gen(function* () {
      const { users } = yield* clientsFor((yield* GrpcServer).port)
      // Other tests here add users of their own (and the seeds stay): the listing this test starts from.
      const before = idsAndNames(yield* allPages(users, 100)).flat()
      const created = yield* unary<CreateUserResponse>((cb) =>
        users.createUser({ name: " Carol ", email: "carol@example.com" }, cb)
      )
      const carol = created.user
      assert.strictEqual(carol?.name, "Carol")
      const id = carol?.id ?? 0n
      assert.deepStrictEqual(
        json(yield* unary<GetUserResponse>((cb) => users.getUser({ id }, cb))),
        json({ user: carol })
      )

      assert.deepStrictEqual(
        yield* statusOf(
          unary<CreateUserResponse>((cb) => users.createUser({ name: "Copy", email: "carol@example.com" }, cb))
        ),
        { code: status.ALREADY_EXISTS, details: "email carol@example.com is already taken" }
      )
      assert.deepStrictEqual(
        yield* statusOf(unary<CreateUserResponse>((cb) => users.createUser({ name: "Dan", email: "dan" }, cb))),
        {
          code: status.INVALID_ARGUMENT,
          details: "invalid email: must be a valid email address"
        }
      )

      const renamed = yield* unary<UpdateUserResponse>((cb) => users.updateUser({ id, name: "Caroline" }, cb))
      assert.deepStrictEqual(json(renamed.user), { id: String(id), name: "Caroline", email: "carol@example.com" })
      // Reads after a write see the write (the cache was invalidated).
      assert.strictEqual((yield* unary<GetUserResponse>((cb) => users.getUser({ id }, cb))).user?.name, "Caroline")

      // Pages of 2 in id order, each token leading to the next and the last page without one: the seeds first,
      // then what was there before, then Caroline (the newest id), once.
      const pages = yield* allPages(users, 2)
      assert.deepStrictEqual(
        pages[0]?.users.map((u) => u.name),
        ["Alice", "Bob"]
      )
      assert.deepStrictEqual(idsAndNames(pages), chunks([...before, [String(id), "Caroline"] as const], 2))
      assert.strictEqual(pages.at(-1)?.users.at(-1)?.name, "Caroline")
      assert.strictEqual(pages.at(-1)?.nextPageToken, "")
      assert.deepStrictEqual(
        yield* statusOf(unary<ListUsersResponse>((cb) => users.listUsers({ pageSize: 500, pageToken: "" }, cb))),
        {
          code: status.INVALID_ARGUMENT,
          details: "invalid page_size: must be between 1 and 100"
        }
      )

      yield* unary<DeleteUserResponse>((cb) => users.deleteUser({ id }, cb))
      assert.strictEqual(
        (yield* statusOf(unary<GetUserResponse>((cb) => users.getUser({ id }, cb)))).code,
        status.NOT_FOUND
      )
      assert.strictEqual(
        (yield* statusOf(unary<DeleteUserResponse>((cb) => users.deleteUser({ id }, cb)))).code,
        status.NOT_FOUND
      )
    })
  )

  it.scoped("refuses a request over the 1 MiB receive limit with RESOURCE_EXHAUSTED", () =>
    Effect.gen(function* () {
      const { users } = yield* clientsFor((yield* GrpcServer).port)
      const huge = "x".repeat(2 * 1024 * 1024)
      const started = performance.now()
      const answer = yield* statusOf(
        unary<CreateUserResponse>((cb) => users.createUser({ name: huge, email: "a@b.co" }, cb))
      )
      assert.strictEqual(answer.code, status.RESOURCE_EXHAUSTED)
      assert.isBelow(performance.now() - started, 1000)
      // The server is still fine afterwards.
      assert.strictEqual((yield* unary<GetUserResponse>((cb) => users.getUser({ id: 1n }, cb))).user?.name, "Alice")
    })
  )

  it.scoped("lists its services through reflection, as grpcurl does", () =>
    Effect.gen(function* () {
      const services = yield* listServicesByReflection((yield* GrpcServer).port)
      assert.deepStrictEqual([...services].sort(), [
        "grpc.health.v1.Health",
        "hello_world.Greeter",
        "users.v1.UserService"
      ])
    })
  )

  it.scoped("logs one line per call with method, code, duration and request id", () =>
    Effect.gen(function* () {
      const { greeter } = yield* clientsFor((yield* GrpcServer).port)
      const metadata = within(5000)[0]
      metadata.set("x-request-id", "req-e2e-42")
      yield* unary((cb) => greeter.sayHello({ userId: 2n }, metadata, cb))
      yield* statusOf(unary((cb) => greeter.sayHello({ userId: 0n }, cb)))
      const lines = yield* pollUntil(
        Effect.sync(() => logs.entries.filter((e) => String(e.message).startsWith("gRPC request"))),
        (entries) =>
          entries.some((e) => e.request_id === "req-e2e-42") && entries.some((e) => e.code === "INVALID_ARGUMENT")
      )
      const ok = lines.find((e) => e.request_id === "req-e2e-42")
      assert.strictEqual(ok?.message, "gRPC request completed")
      assert.strictEqual(ok?.method, "/hello_world.Greeter/SayHello")
      assert.strictEqual(ok?.code, "OK")
      assert.isNumber(ok?.duration_ms)
      assert.strictEqual(lines.filter((e) => e.request_id === "req-e2e-42").length, 1)
      const failed = lines.find((e) => e.code === "INVALID_ARGUMENT")
      assert.strictEqual(failed?.message, "gRPC request failed")
      assert.isString(failed?.request_id)
    })
  )

  // A blocked query is held behind a table lock taken by the test's own connection; then the call ends early.
  // What must happen: the service interrupts the call's fiber and Postgres stops running the query.
  describe.runIf(inject("postgresSource") !== "embedded")("cancellation reaches Postgres", () => {
    // Inside a transaction pg_stat_activity is a snapshot taken at first use: clear it before every look.
    const blockedReads = Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`SELECT pg_stat_clear_snapshot()`.pipe(
        Effect.zipRight(sql<{ pid: number }>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
          AND query LIKE '%FROM users WHERE id = ANY($1)%'`)
      )
    )

    const blockThenEnd = (end: (call: Fiber.RuntimeFiber<unknown, unknown>) => Effect.Effect<number>) =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const { users } = yield* clientsFor((yield* GrpcServer).port)
        const created = yield* unary<CreateUserResponse>((cb) =>
          users.createUser({ name: "Slow", email: `slow${Date.now()}@example.com` }, cb)
        )
        const id = created.user?.id ?? 0n
        return yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`LOCK TABLE users IN ACCESS EXCLUSIVE MODE`
            const call = yield* Effect.fork(unary<GetUserResponse>((cb) => users.getUser({ id }, ...within(1500), cb)))
            yield* pollUntil(blockedReads, (rows) => rows.length === 1, "5 seconds")
            const code = yield* end(call)
            const started = Date.now()
            yield* pollUntil(blockedReads, (rows) => rows.length === 0, "2 seconds")
            return { code, goneAfterMs: Date.now() - started }
          })
        )
      })

    it.scoped("a call the client cancels cancels its SQL query", () =>
      Effect.gen(function* () {
        const result = yield* blockThenEnd((call) => Fiber.interrupt(call).pipe(Effect.as(status.CANCELLED)))
        assert.isBelow(result.goneAfterMs, 2000)
      })
    )

    it.scoped("a call whose deadline passes answers DEADLINE_EXCEEDED and its SQL query is cancelled", () =>
      Effect.gen(function* () {
        const result = yield* blockThenEnd((call) =>
          Fiber.join(call).pipe(
            Effect.flip,
            Effect.map((error) =>
              typeof error === "object" && error !== null && "code" in error ? Number(error.code) : -1
            ),
            Effect.orDie
          )
        )
        assert.strictEqual(result.code, status.DEADLINE_EXCEEDED)
      })
    )
  })
})
