import { Effect, Either, ParseResult, Schema } from "effect"
import { InvalidArgument } from "./errors.js"

/**
 * Decodes one request field with a schema, failing with InvalidArgument that names the field. The decoder is
 * built once per `validateField(schema, field)`; a valid input costs one synchronous parse and no extra fiber steps.
 */
export const validateField = <A, I>(schema: Schema.Schema<A, I>, field: string) => {
  const decode = Schema.decodeEither(schema)
  return (input: I): Effect.Effect<A, InvalidArgument> =>
    Either.match(decode(input), {
      onLeft: (error) => {
        const first = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
        return Effect.fail(new InvalidArgument({ field, reason: truncate(first?.message ?? "is invalid") }))
      },
      onRight: Effect.succeed
    })
}

// The reason may quote the input: keep it short so a huge value is never echoed back whole.
const truncate = (s: string): string => (s.length > 100 ? `${s.slice(0, 97)}...` : s)
