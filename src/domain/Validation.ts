import { Effect, ParseResult, Schema } from "effect"
import { InvalidArgument } from "./errors.js"

/** Decodes one request field with a schema, failing with InvalidArgument that names the field. */
export const validateField =
  <A, I>(schema: Schema.Schema<A, I>, field: string) =>
  (input: I): Effect.Effect<A, InvalidArgument> =>
    Schema.decode(schema)(input).pipe(
      Effect.mapError((error) => {
        const first = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
        return new InvalidArgument({ field, reason: truncate(first?.message ?? "is invalid") })
      })
    )

// The reason may quote the input: keep it short so a huge value is never echoed back whole.
const truncate = (s: string): string => (s.length > 100 ? `${s.slice(0, 97)}...` : s)
