import { credentials, Metadata, status } from "@grpc/grpc-js"
import { GreeterClient } from "../src/adapters/grpc/generated/hello_world/hello_world.js"
import { serviceAddressesOrExit } from "./serviceAddresses.js"

// npm run hello -- [user_id] [host:port]: one SayHello call, printed like grpcurl prints it. For a first check
// without grpcurl installed. Without host:port, the server's own GRPC_SERVER_URL (environment, then .env).
const userId = process.argv[2] ?? "1"
const address = process.argv[3] ?? serviceAddressesOrExit().grpc
if (!/^-?\d+$/.test(userId)) {
  console.error("Usage: npm run hello -- [user_id] [host:port]")
  process.exit(2)
}
const client = new GreeterClient(address, credentials.createInsecure())
client.sayHello({ userId: BigInt(userId) }, new Metadata(), { deadline: Date.now() + 5000 }, (error, reply) => {
  client.close()
  if (error) {
    console.error(`ERROR:\n  Code: ${status[error.code]}\n  Message: ${error.details}`)
    process.exit(1)
  }
  console.log(JSON.stringify(reply, (_key, value) => (typeof value === "bigint" ? value.toString() : value), 2))
})
