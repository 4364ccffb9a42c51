// The service's typed clients, exported from the package ("effect-microservice/client"):
// - gRPC (grpc-js), generated from proto/: any language can generate its own from the same files;
// - @effect/rpc: typed payloads, results and errors for Effect callers.
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { RpcClient, RpcSerialization } from "@effect/rpc"
import { Effect, Layer } from "effect"
import { UsersRpcs } from "./adapters/rpc/UsersRpc.js"

export { GreeterClient } from "./adapters/grpc/generated/hello_world/hello_world.js"
export { UserServiceClient } from "./adapters/grpc/generated/users/v1/users.js"
export { AuditRpcs } from "./adapters/rpc/AuditRpc.js"
export { UsersRpcs } from "./adapters/rpc/UsersRpc.js"
export * from "./domain/errors.js"

/**
 * The @effect/rpc transport to a running service: `RpcClient.make(UsersRpcs)` with this layer gives a client whose
 * methods return the use cases' results and fail with their tagged errors.
 *   const client = yield* RpcClient.make(UsersRpcs)   // with Effect.provide(rpcProtocol("http://localhost:4000/rpc"))
 * With authentication on, pass the bearer token: it goes in the HTTP Authorization header, the only place the
 * server reads the caller's identity from (a message's own headers are never trusted for it).
 *   rpcProtocol("http://localhost:4000/rpc", { authorization: `Bearer ${token}` })
 */
export const rpcProtocol = (url: string, options: { readonly authorization?: string } = {}) => {
  const { authorization } = options
  const http =
    authorization === undefined
      ? FetchHttpClient.layer
      : Layer.effect(
          HttpClient.HttpClient,
          Effect.map(
            HttpClient.HttpClient,
            HttpClient.mapRequest(HttpClientRequest.setHeader("authorization", authorization))
          )
        ).pipe(Layer.provide(FetchHttpClient.layer))
  return RpcClient.layerProtocolHttp({ url }).pipe(Layer.provide([http, RpcSerialization.layerNdjson]))
}

export const makeRpcClient = RpcClient.make(UsersRpcs)
