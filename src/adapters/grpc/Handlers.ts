import type { Metadata } from "@grpc/grpc-js"
import type { Runtime } from "effect"
import { Effect } from "effect"
import { Greeter } from "../../app/Greeter.js"
import { Users } from "../../app/Users.js"
import type { AppError } from "../../domain/errors.js"
import type { User } from "../../domain/User.js"
import { type GreeterServer, GreeterService } from "./generated/hello_world/hello_world.js"
import { type UserServiceServer, UserServiceService } from "./generated/users/v1/users.js"
import { type UnaryPolicy, unaryHandler } from "./Unary.js"

const handler = <Req, Res>(
  runtime: Runtime.Runtime<never>,
  policy: UnaryPolicy,
  path: string,
  handle: (request: Req, metadata: Metadata) => Effect.Effect<Res, AppError>
) => unaryHandler(runtime, path, handle, policy)

/** The `idempotency-key` metadata of a write (docs/resilience.md): its first value, if any. */
const idempotencyKeyOf = (metadata: Metadata): string | undefined => {
  const [value] = metadata.get("idempotency-key")
  return typeof value === "string" ? value : undefined
}

/** Writes need the write scope when auth is on (AUTH_WRITE_SCOPE); reads need a valid token only. */
const writes = (policy: UnaryPolicy): UnaryPolicy => ({ ...policy, requiredScope: policy.writeScope })

const toWire = (user: User) => ({ id: user.id, name: user.name, email: user.email })

/** hello_world.Greeter, wire-compatible with the Go boilerplate. */
export const makeGreeterHandlers = (runtime: Runtime.Runtime<never>, policy: UnaryPolicy) =>
  Effect.map(
    Greeter,
    (greeter): GreeterServer => ({
      sayHello: handler(runtime, policy, GreeterService.sayHello.path, (request) =>
        greeter.sayHello(request.userId).pipe(Effect.map(({ message, user }) => ({ message, user: toWire(user) })))
      )
    })
  )

export const makeUserServiceHandlers = (runtime: Runtime.Runtime<never>, policy: UnaryPolicy) =>
  Effect.map(
    Users,
    (users): UserServiceServer => ({
      getUser: handler(runtime, policy, UserServiceService.getUser.path, (request) =>
        users.get(request.id).pipe(Effect.map((user) => ({ user: toWire(user) })))
      ),
      listUsers: handler(runtime, policy, UserServiceService.listUsers.path, (request) =>
        users
          .list({ pageSize: request.pageSize, pageToken: request.pageToken })
          .pipe(Effect.map((page) => ({ users: page.users.map(toWire), nextPageToken: page.nextPageToken })))
      ),
      createUser: handler(runtime, writes(policy), UserServiceService.createUser.path, (request, metadata) =>
        users
          .create({ name: request.name, email: request.email, idempotencyKey: idempotencyKeyOf(metadata) })
          .pipe(Effect.map((user) => ({ user: toWire(user) })))
      ),
      updateUser: handler(runtime, writes(policy), UserServiceService.updateUser.path, (request, metadata) =>
        users
          .update({
            id: request.id,
            name: request.name,
            email: request.email,
            idempotencyKey: idempotencyKeyOf(metadata)
          })
          .pipe(Effect.map((user) => ({ user: toWire(user) })))
      ),
      deleteUser: handler(runtime, writes(policy), UserServiceService.deleteUser.path, (request, metadata) =>
        users.delete({ id: request.id, idempotencyKey: idempotencyKeyOf(metadata) }).pipe(Effect.as({}))
      )
    })
  )
