import { Effect, FiberRef, Option } from "effect"
import { PermissionDenied } from "../domain/errors.js"
import { type Caller, RequestCaller } from "../ports/RequestContext.js"

/**
 * Object-level authorization (OWASP API1), one table for every door. With authentication on, a token reaches a
 * user's data only as follows (the write scope, AUTH_WRITE_SCOPE, is still needed for any write, at the edge):
 *
 * | Operation                          | Allowed when                                           |
 * | ---------------------------------- | ------------------------------------------------------ |
 * | read a user (Get, SayHello)        | the token's subject is that user's id, or `users:read` |
 * | list users                         | `users:read`                                           |
 * | create a user                      | (the write scope)                                      |
 * | update or delete a user            | the token's subject is that user's id, or `users:admin` |
 * | read a user's audit trail          | `audit:read`                                           |
 *
 * With authentication off there is no caller and nothing is checked (the template's default, for local use).
 * The use cases (Users, AuditTrail) call these checks first; Greeter reads through `Users.findById`.
 */
export const SCOPES = { readUsers: "users:read", adminUsers: "users:admin", readAudit: "audit:read" } as const

const owns = (caller: Caller, id: bigint) => caller.subject === String(id)

const check = (allowed: (caller: Caller) => boolean, reason: string) =>
  Effect.flatMap(FiberRef.get(RequestCaller), (caller) =>
    Option.isNone(caller) || allowed(caller.value) ? Effect.void : Effect.fail(new PermissionDenied({ reason }))
  )

/** Reading user `id`: its own subject, or `users:read`. */
export const mayRead = (id: bigint) =>
  check((c) => owns(c, id) || c.scopes.has(SCOPES.readUsers), `reading another user requires scope ${SCOPES.readUsers}`)
/** Updating or deleting user `id`: its own subject, or `users:admin`. */
export const mayChange = (id: bigint) =>
  check(
    (c) => owns(c, id) || c.scopes.has(SCOPES.adminUsers),
    `changing another user requires scope ${SCOPES.adminUsers}`
  )

/** Listing users: `users:read`. */
export const mayList = check((c) => c.scopes.has(SCOPES.readUsers), `listing users requires scope ${SCOPES.readUsers}`)

/** Reading an audit trail: `audit:read`. */
export const mayReadAudit = check(
  (c) => c.scopes.has(SCOPES.readAudit),
  `reading the audit trail requires scope ${SCOPES.readAudit}`
)
