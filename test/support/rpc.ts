import { HttpServer } from "@effect/platform"
import { RpcClient } from "@effect/rpc"
import { Effect } from "effect"
import { ServiceRpcs } from "../../src/adapters/rpc/RpcServer.js"
import { rpcProtocol } from "../../src/client.js"

/** The port the running service's HTTP server listens on. */
export const httpPort = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "TcpAddress" ? server.address.port : 0
)

/**
 * A typed @effect/rpc client of the running service (every RpcGroup it serves), over the exported transport; with
 * `authorization`, every call carries it in the HTTP Authorization header.
 */
export const rpcClientWith = (authorization?: string) =>
  Effect.flatMap(httpPort, (port) =>
    RpcClient.make(ServiceRpcs).pipe(
      Effect.provide(rpcProtocol(`http://127.0.0.1:${port}/rpc`, authorization === undefined ? {} : { authorization }))
    )
  )

/** A typed @effect/rpc client of the running service, without credentials. */
export const rpcClient = rpcClientWith()
