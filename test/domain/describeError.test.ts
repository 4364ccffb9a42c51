import { SqlError } from "@effect/sql/SqlError"
import { Cause, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { describeError } from "../../src/domain/describeError.js"
import { DependencyUnavailable } from "../../src/domain/errors.js"

/** What node's net.connect gives for a name with IPv4 and IPv6 addresses: an AggregateError with no message. */
const connectRefused = (address: string, port: number) =>
  Object.assign(new Error(`connect ECONNREFUSED ${address}:${port}`), {
    code: "ECONNREFUSED",
    address,
    port
  })
const dualStackRefused = (port: number) =>
  Object.assign(new AggregateError([connectRefused("::1", port), connectRefused("127.0.0.1", port)], ""), {
    code: "ECONNREFUSED"
  })

/** The error Effect.tryPromise fails with when the promise rejects (an UnknownException). */
const unknownException = async (reason: unknown): Promise<unknown> => {
  const exit = await Effect.runPromiseExit(Effect.tryPromise(() => Promise.reject(reason)))
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  return Cause.squash(exit.cause)
}

describe("describeError", () => {
  it("walks Effect's UnknownException to the rejection's message", async () => {
    const error = await unknownException(connectRefused("127.0.0.1", 6379))
    expect(error).toBeInstanceOf(Error)
    expect(describeError(error)).toBe("connect ECONNREFUSED 127.0.0.1:6379")
  })

  it("joins nested causes outermost first: DependencyUnavailable, SqlError, the socket's error", () => {
    const error = new DependencyUnavailable({
      dependency: "database",
      operation: "findByIds",
      cause: new SqlError({ message: "PgClient: Failed to connect", cause: connectRefused("127.0.0.1", 5432) })
    })
    expect(describeError(error)).toBe(
      "database unavailable (findByIds): PgClient: Failed to connect: connect ECONNREFUSED 127.0.0.1:5432"
    )
  })

  it("names each attempt of an AggregateError with an empty message, once each", () => {
    const error = new SqlError({ message: "Failed to acquire connection", cause: dualStackRefused(5432) })
    expect(describeError(error)).toBe(
      "Failed to acquire connection: connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432"
    )
    const same = new AggregateError([connectRefused("127.0.0.1", 1), connectRefused("127.0.0.1", 1)], "")
    expect(describeError(same)).toBe("connect ECONNREFUSED 127.0.0.1:1")
  })

  it("uses the code when a message is empty, and skips a cause its wrapper already quotes", () => {
    expect(describeError(Object.assign(new Error(""), { code: "ETIMEDOUT" }))).toBe("ETIMEDOUT")
    const wrapped = new Error("connect ECONNREFUSED 127.0.0.1:5432 (after 3 attempts)", {
      cause: connectRefused("127.0.0.1", 5432)
    })
    expect(describeError(wrapped)).toBe("connect ECONNREFUSED 127.0.0.1:5432 (after 3 attempts)")
  })

  it("strips credentials from URLs and password settings", () => {
    const error = new Error("cannot reach postgres://app:s3cr%40t@db.internal:5432/users", {
      cause: new Error("redis://:hunter2@cache:6379 refused; dsn host=db user=app password=hunter2 dbname=x")
    })
    const text = describeError(error)
    expect(text).toBe(
      "cannot reach postgres://db.internal:5432/users: redis://cache:6379 refused; dsn host=db user=app password=*** dbname=x"
    )
    expect(text).not.toContain("hunter2")
    expect(text).not.toContain("s3cr")
    expect(describeError(new Error("at postgres://u:p@ss@host/db"))).toBe("at postgres://host/db")
  })

  it("bounds the length, after removing credentials, and keeps one line", () => {
    const long = new Error(`first line\nsecond ${"x".repeat(1000)} postgres://user:password@host/db`)
    const text = describeError(long, 80)
    expect(text.length).toBe(80)
    expect(text.endsWith("…")).toBe(true)
    expect(text.startsWith("first line second x")).toBe(true)
    expect(describeError(new Error(`postgres://user:${"p".repeat(400)}@host/db`))).toBe("postgres://host/db")
    expect(describeError(new Error("a".repeat(1000))).length).toBe(300)
  })

  it("describes values that are not errors, and errors that say nothing, without 'unknown error'", async () => {
    expect(describeError("plain text")).toBe("plain text")
    expect(describeError({ reason: "busy" })).toBe('{"reason":"busy"}')
    expect(describeError(undefined)).toBe("undefined (no message)")
    expect(describeError(await unknownException(undefined))).toBe("UnknownException (no message)")
    const cyclic: { message: string; cause?: unknown } = { message: "loop" }
    cyclic.cause = cyclic
    expect(describeError(cyclic)).toBe("loop")
  })
})
