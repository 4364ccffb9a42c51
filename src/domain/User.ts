import { Schema } from "effect"

/** The largest id an int64 column (BIGSERIAL) can hold. */
export const MAX_USER_ID = 9_223_372_036_854_775_807n

/** Positive int64, kept as a bigint end to end so an id above 2^53 never loses precision. */
export const UserId = Schema.BigIntFromSelf.pipe(
  Schema.filter((n) => (n >= 1n && n <= MAX_USER_ID) || "must be a positive 64-bit integer"),
  Schema.brand("UserId")
)
export type UserId = typeof UserId.Type

export const UserName = Schema.Trim.pipe(
  Schema.filter((s) => s.length >= 1 || "must not be empty"),
  Schema.filter((s) => s.length <= 25 || "must be at most 25 characters")
)

// Deliberately simple: one @, no spaces, a dot in the domain. Real verification is a confirmation e-mail.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/

export const Email = Schema.Trim.pipe(
  Schema.filter((s) => s.length <= 255 || "must be at most 255 characters"),
  Schema.filter((s) => EMAIL.test(s) || "must be a valid email address")
)

export class User extends Schema.Class<User>("User")({
  id: UserId,
  name: Schema.String,
  email: Schema.String
}) {}

export interface NewUser {
  readonly name: string
  readonly email: string
}

export interface UserPatch {
  readonly name?: string | undefined
  readonly email?: string | undefined
}
