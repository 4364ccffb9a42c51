import { Schema } from "effect"

/** The largest id an int64 column (BIGSERIAL) can hold. */
export const MAX_USER_ID = 9_223_372_036_854_775_807n

/** Positive int64, kept as a bigint end to end so an id above 2^53 never loses precision. */
export const UserId = Schema.BigIntFromSelf.pipe(
  Schema.filter((n) => (n >= 1n && n <= MAX_USER_ID) || "must be a positive 64-bit integer"),
  Schema.brand("UserId")
)
export type UserId = typeof UserId.Type

/**
 * Characters no text field accepts: Unicode category Cc (NUL, ESC, DEL and the other C0/C1 controls: Postgres
 * refuses NUL outright, the rest corrupt terminals and logs) and the bidirectional embeddings, overrides and
 * isolates (U+202A–U+202E, U+2066–U+2069) that make text display in another order than it is stored.
 */
const UNSAFE_CHARACTER = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u

const codePoint = (char: string): string =>
  `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`

/** Text a person can read as stored: no control or bidi-override characters (see UNSAFE_CHARACTER). */
export const SafeText = Schema.String.pipe(
  Schema.filter((s) => {
    const found = UNSAFE_CHARACTER.exec(s)
    return found === null || `must not contain control or bidirectional-override characters (${codePoint(found[0])})`
  })
)

/** A user's name as checked on the way in: trimmed, safe text, 1–25 characters. */
export const UserName = Schema.Trim.pipe(
  Schema.compose(SafeText),
  Schema.filter((s) => s.length >= 1 || "must not be empty"),
  Schema.filter((s) => s.length <= 25 || "must be at most 25 characters"),
  Schema.brand("UserName")
)
export type UserName = typeof UserName.Type

// Deliberately simple: one @, no spaces, a dot in the domain. Real verification is a confirmation e-mail.
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/

/** An email address as checked on the way in: trimmed, safe text, at most 255 characters, one @. */
export const Email = Schema.Trim.pipe(
  Schema.compose(SafeText),
  Schema.filter((s) => s.length <= 255 || "must be at most 255 characters"),
  Schema.filter((s) => EMAIL.test(s) || "must be a valid email address"),
  Schema.brand("Email")
)
export type Email = typeof Email.Type

/**
 * A user. Name and email carry the brands of UserName and Email, so only a checked value (or one read back from
 * the store, where only checked values are written) can become a user's: a plain string does not type-check.
 * Read back, they are not checked again: rows written before a rule tightened (or by the Go service) still read.
 */
export class User extends Schema.Class<User>("User")({
  id: UserId,
  name: Schema.String.pipe(Schema.brand("UserName")),
  email: Schema.String.pipe(Schema.brand("Email"))
}) {}

export interface NewUser {
  readonly name: UserName
  readonly email: Email
}

export interface UserPatch {
  readonly name?: UserName | undefined
  readonly email?: Email | undefined
}
