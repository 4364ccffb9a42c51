import type { Metadata } from "@grpc/grpc-js"
import { Effect } from "effect"
import { Greeter } from "../../app/Greeter.js"
import { Users } from "../../app/Users.js"
import type { User } from "../../domain/User.js"
import type { EdgePipeline } from "../edge/Pipeline.js"
import { type GreeterServer, GreeterService } from "./generated/hello_world/hello_world.js"
import { type UserServiceServer, UserServiceService } from "./generated/users/v1/users.js"
import { unaryHandler } from "./Unary.js"

/** The `idempotency-key` metadata of a write (docs/resilience.md): its first value, if any. */
const idempotencyKeyOf = (metadata: Metadata): string | undefined => {
  const [value] = metadata.get("idempotency-key")
  return typeof value === "string" ? value : undefined
}

const toWire = (user: User) => ({ id: user.id, name: user.name, email: user.email })

/** hello_world.Greeter, wire-compatible with the Go boilerplate. */
export const makeGreeterHandlers = (pipeline: EdgePipeline) =>
  Effect.map(
    Greeter,
    (greeter): GreeterServer => ({
      sayHello: unaryHandler(pipeline, "SayHello", GreeterService.sayHello.path, (request) =>
        greeter.sayHello(request.userId).pipe(Effect.map(({ message, user }) => ({ message, user: toWire(user) })))
      )
    })
  )

export const makeUserServiceHandlers = (pipeline: EdgePipeline) =>
  Effect.map(
    Users,
    (users): UserServiceServer => ({
      getUser: unaryHandler(pipeline, "GetUser", UserServiceService.getUser.path, (request) =>
        users.get(request.id).pipe(Effect.map((user) => ({ user: toWire(user) })))
      ),
      listUsers: unaryHandler(pipeline, "ListUsers", UserServiceService.listUsers.path, (request) =>
        users
          .list({ pageSize: request.pageSize, pageToken: request.pageToken })
          .pipe(Effect.map((page) => ({ users: page.users.map(toWire), nextPageToken: page.nextPageToken })))
      ),
      createUser: unaryHandler(pipeline, "CreateUser", UserServiceService.createUser.path, (request, metadata) =>
        users
          .create({ name: request.name, email: request.email, idempotencyKey: idempotencyKeyOf(metadata) })
          .pipe(Effect.map((user) => ({ user: toWire(user) })))
      ),
      updateUser: unaryHandler(pipeline, "UpdateUser", UserServiceService.updateUser.path, (request, metadata) =>
        users
          .update({
            id: request.id,
            name: request.name,
            email: request.email,
            idempotencyKey: idempotencyKeyOf(metadata)
          })
          .pipe(Effect.map((user) => ({ user: toWire(user) })))
      ),
      deleteUser: unaryHandler(pipeline, "DeleteUser", UserServiceService.deleteUser.path, (request, metadata) =>
        users.delete({ id: request.id, idempotencyKey: idempotencyKeyOf(metadata) }).pipe(Effect.as({}))
      )
    })
  )
