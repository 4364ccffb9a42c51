import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { decodePageToken, encodePageToken, pageSize } from "../../src/domain/Page.js"
import { Email, MAX_USER_ID, UserId, UserName } from "../../src/domain/User.js"
import { validateField } from "../../src/domain/Validation.js"

const invalid = <A>(effect: Effect.Effect<A, { readonly field: string; readonly reason: string }>) =>
  Effect.flip(effect).pipe(Effect.map((e) => `${e.field}: ${e.reason}`))

describe("validateField", () => {
  it.effect("accepts ids from 1 to 2^63-1 exactly, above 2^53 included", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* validateField(UserId, "user_id")(1n), 1n)
      assert.strictEqual(yield* validateField(UserId, "user_id")(2n ** 53n + 1n), 9007199254740993n)
      assert.strictEqual(yield* validateField(UserId, "user_id")(MAX_USER_ID), MAX_USER_ID)
    })
  )

  it.effect("rejects 0, negative and out-of-range ids, naming the field", () =>
    Effect.gen(function* () {
      for (const id of [0n, -5n, MAX_USER_ID + 1n]) {
        assert.strictEqual(
          yield* invalid(validateField(UserId, "user_id")(id)),
          "user_id: must be a positive 64-bit integer"
        )
      }
    })
  )

  it.effect("names and emails refuse control and bidi-override characters, naming the field and the character", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["Al\u0000ice", "U+0000"],
        ["Al\u001bice", "U+001B"],
        ["Al\u007fice", "U+007F"],
        ["Al\u0085ice", "U+0085"],
        ["Al\nice", "U+000A"],
        ["Al\u202Eice", "U+202E"],
        ["Al\u2066ice", "U+2066"],
        ["Al\u2069ice", "U+2069"]
      ]
      for (const [text, char] of cases) {
        assert.strictEqual(
          yield* invalid(validateField(UserName, "name")(text)),
          `name: must not contain control or bidirectional-override characters (${char})`
        )
        assert.strictEqual(
          yield* invalid(validateField(Email, "email")(`a${text}@example.com`)),
          `email: must not contain control or bidirectional-override characters (${char})`
        )
      }
      // Letters of any script, and whitespace trimmed from the ends, are fine.
      assert.strictEqual(yield* validateField(UserName, "name")(" Zoë 李 "), "Zoë 李")
      assert.strictEqual(yield* validateField(Email, "email")("\tzoe@example.com\n"), "zoe@example.com")
    })
  )

  it.effect("trims names and bounds them to 1..25 characters", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* validateField(UserName, "name")("  Ada  "), "Ada")
      assert.strictEqual(yield* validateField(UserName, "name")("x".repeat(25)), "x".repeat(25))
      assert.strictEqual(yield* invalid(validateField(UserName, "name")("   ")), "name: must not be empty")
      assert.strictEqual(
        yield* invalid(validateField(UserName, "name")("x".repeat(26))),
        "name: must be at most 25 characters"
      )
    })
  )

  it.effect("accepts plausible emails and rejects the rest", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* validateField(Email, "email")(" ada@example.com "), "ada@example.com")
      for (const bad of ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "ada@@example.com"]) {
        assert.strictEqual(yield* invalid(validateField(Email, "email")(bad)), "email: must be a valid email address")
      }
      const long = `${"a".repeat(250)}@example.com`
      assert.strictEqual(yield* invalid(validateField(Email, "email")(long)), "email: must be at most 255 characters")
    })
  )
})

describe("pagination", () => {
  it.effect("page_size: 0 selects the default, 1..100 pass, the rest fail", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* pageSize(0), 20)
      assert.strictEqual(yield* pageSize(1), 1)
      assert.strictEqual(yield* pageSize(100), 100)
      for (const bad of [-1, 101, 1.5]) {
        assert.strictEqual(yield* invalid(pageSize(bad)), "page_size: must be between 1 and 100")
      }
    })
  )

  it.effect("page tokens round-trip and reject anything else", () =>
    Effect.gen(function* () {
      const big = UserId.make(2n ** 60n)
      assert.strictEqual(yield* decodePageToken(encodePageToken(big)), big)
      assert.strictEqual(yield* decodePageToken(""), undefined)
      for (const bad of [
        "nope",
        Buffer.from("v1:abc").toString("base64url"),
        Buffer.from("v1:0").toString("base64url")
      ]) {
        const exit = yield* Effect.exit(decodePageToken(bad))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(yield* invalid(decodePageToken(bad)), "page_token: is not a token returned by ListUsers")
      }
    })
  )
})
