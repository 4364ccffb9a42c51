import { Schema } from "effect"

/**
 * A client's idempotency key (`idempotency-key` gRPC metadata, the `Idempotency-Key` HTTP header, the
 * `idempotency_key` field on /rpc): 1 to 255 visible ASCII characters, typically a random UUID per logical write.
 * A write retried with the same key is applied at most once; the retry gets the first result.
 */
export const IdempotencyKey = Schema.String.pipe(
  Schema.filter((s) => s.length >= 1 || "must not be empty"),
  Schema.filter((s) => s.length <= 255 || "must be at most 255 characters"),
  Schema.filter((s) => /^[\x21-\x7E]+$/.test(s) || "must be visible ASCII characters only (a UUID, say)"),
  Schema.brand("IdempotencyKey")
)
export type IdempotencyKey = typeof IdempotencyKey.Type
