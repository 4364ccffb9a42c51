import { RpcSerialization, RpcServer } from "@effect/rpc"
import { Effect, Layer } from "effect"
import { Greeter } from "../../app/Greeter.js"
import { Users } from "../../app/Users.js"
import { type AppError, DependencyUnavailable } from "../../domain/errors.js"
import type { User } from "../../domain/User.js"
import { UsersRpcs } from "./UsersRpc.js"

const wire = (user: User) => ({ id: user.id, name: user.name, email: user.email })

// What a dependency failure says to clients: which dependency and operation, never the cause (that stays in logs).
const clientSafe = (error: AppError): AppError =>
  error._tag === "DependencyUnavailable"
    ? new DependencyUnavailable({ dependency: error.dependency, operation: error.operation })
    : error

const HandlersLive = UsersRpcs.toLayer(
  Effect.gen(function* () {
    const users = yield* Users
    const greeter = yield* Greeter
    return {
      SayHello: ({ user_id }) =>
        greeter.sayHello(user_id).pipe(
          Effect.map(({ message, user }) => ({ message, user: wire(user) })),
          Effect.mapError(clientSafe)
        ),
      GetUser: ({ id }) => users.get(id).pipe(Effect.map(wire), Effect.mapError(clientSafe)),
      ListUsers: ({ page_size, page_token }) =>
        users.list({ pageSize: page_size, pageToken: page_token }).pipe(
          Effect.map((page) => ({ users: page.users.map(wire), next_page_token: page.nextPageToken })),
          Effect.mapError(clientSafe)
        ),
      CreateUser: (payload) => users.create(payload).pipe(Effect.map(wire), Effect.mapError(clientSafe)),
      UpdateUser: (payload) => users.update(payload).pipe(Effect.map(wire), Effect.mapError(clientSafe)),
      DeleteUser: ({ id }) => users.delete(id).pipe(Effect.mapError(clientSafe))
    }
  })
)

/**
 * The RPC server as an HttpApp for POST /rpc. Each call runs in a server span continuing the client's trace (the
 * client sends its span with every request).
 */
export const rpcApp = RpcServer.toHttpApp(UsersRpcs, { spanPrefix: "UsersRpc" }).pipe(
  Effect.provide(Layer.merge(HandlersLive, RpcSerialization.layerNdjson))
)
