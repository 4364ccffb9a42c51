// The service's typed clients, exported from the package ("effect-microservice/client"):
// - gRPC (grpc-js), generated from proto/: any language can generate its own from the same files;
// - @effect/rpc: typed payloads, results and errors for Effect callers.
import { FetchHttpClient } from "@effect/platform"
import { RpcClient, RpcSerialization } from "@effect/rpc"
import { Layer } from "effect"
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
 */
export const rpcProtocol = (url: string) =>
  RpcClient.layerProtocolHttp({ url }).pipe(Layer.provide([FetchHttpClient.layer, RpcSerialization.layerNdjson]))

export const makeRpcClient = RpcClient.make(UsersRpcs)
