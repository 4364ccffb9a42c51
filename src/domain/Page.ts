import { Effect, Either, Schema } from "effect"
import { InvalidArgument } from "./errors.js"
import { UserId } from "./User.js"

export const DEFAULT_PAGE_SIZE = 20
export const MAX_PAGE_SIZE = 100

/** page_size: 1 to 100; 0 means "not set" (proto3) and selects the default. */
export const pageSize = (raw: number): Effect.Effect<number, InvalidArgument> =>
  raw === 0
    ? Effect.succeed(DEFAULT_PAGE_SIZE)
    : Number.isInteger(raw) && raw >= 1 && raw <= MAX_PAGE_SIZE
      ? Effect.succeed(raw)
      : Effect.fail(new InvalidArgument({ field: "page_size", reason: `must be between 1 and ${MAX_PAGE_SIZE}` }))

// A page token is opaque to clients: base64url of "v1:<last id>". Keyset pagination on the primary key
// keeps pages stable while rows are inserted or deleted.
const TokenBody = Schema.TemplateLiteralParser("v1:", Schema.BigInt)

export const encodePageToken = (lastId: UserId): string => Buffer.from(`v1:${lastId}`).toString("base64url")

/** The id after which the page starts, or none for the first page. */
export const decodePageToken = (token: string): Effect.Effect<UserId | undefined, InvalidArgument> => {
  if (token === "") return Effect.succeed(undefined)
  const decoded = Schema.decodeUnknownEither(TokenBody)(Buffer.from(token, "base64url").toString("utf8")).pipe(
    Either.flatMap(([, id]) => Schema.decodeEither(UserId)(id))
  )
  return Either.isRight(decoded)
    ? Effect.succeed(decoded.right)
    : Effect.fail(new InvalidArgument({ field: "page_token", reason: "is not a token returned by ListUsers" }))
}
