// npm run example:client [-- grpc_host:port http_base_url]: SayHello once over gRPC and once over @effect/rpc,
// with the package's typed clients, against a running service (npm start). Without arguments, the server's own
// GRPC_SERVER_URL and HTTP_SERVER_URL (environment, then .env).
import { credentials, Metadata } from "@grpc/grpc-js"
import { Effect } from "effect"
import { GreeterClient, makeRpcClient, rpcProtocol } from "../src/client.js"
import { serviceAddressesOrExit } from "./serviceAddresses.js"

const grpcAddress = process.argv[2] ?? serviceAddressesOrExit().grpc
const httpBase = process.argv[3] ?? serviceAddressesOrExit().http

const overGrpc = Effect.async<string, Error>((resume) => {
  const client = new GreeterClient(grpcAddress, credentials.createInsecure())
  client.sayHello({ userId: 1n }, new Metadata(), { deadline: Date.now() + 5000 }, (error, reply) => {
    client.close()
    resume(error ? Effect.fail(error) : Effect.succeed(`${reply.message} (${reply.user?.email})`))
  })
})

const overRpc = Effect.scoped(
  Effect.flatMap(makeRpcClient, (client) => client.SayHello({ user_id: 1n })).pipe(
    Effect.map((reply) => `${reply.message} (${reply.user.email})`),
    Effect.provide(rpcProtocol(`${httpBase}/rpc`))
  )
)

const program = Effect.gen(function* () {
  console.log(`gRPC       ${grpcAddress}  hello_world.Greeter/SayHello {user_id: 1} -> ${yield* overGrpc}`)
  console.log(`@effect/rpc ${httpBase}/rpc  SayHello {user_id: 1n}              -> ${yield* overRpc}`)
})

Effect.runPromise(program).catch((error: unknown) => {
  console.error(`example:client failed (is the service running? npm start): ${String(error)}`)
  process.exit(1)
})
