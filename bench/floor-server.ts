// The floor of `npm run bench`: grpc-js alone, answering SayHello with a constant reply (no Redis, no database,
// nothing else). No SayHello server on grpc-js can be faster, so it shows how much of a call is grpc-js itself.
// Usage: tsx bench/floor-server.ts <port>. Prints "LISTENING <port>"; on SIGUSR2 (and at SIGTERM)
// "SERVED ok=<n> notfound=<n> failed=<n>", like the baseline.
import { type handleUnaryCall, Server, ServerCredentials } from "@grpc/grpc-js"
import {
  GreeterService,
  type SayHelloRequest,
  type SayHelloResponse
} from "../src/adapters/grpc/generated/hello_world/hello_world.js"

const [port = "0"] = process.argv.slice(2)
const reply: SayHelloResponse = {
  message: "Hello, Alice!",
  user: { id: 1n, name: "Alice", email: "alice@example.com" }
}
let ok = 0

const sayHello: handleUnaryCall<SayHelloRequest, SayHelloResponse> = (_call, callback) => {
  // Answered on a later tick, as a handler that waits for anything is.
  queueMicrotask(() => {
    ok++
    callback(null, reply)
  })
}

const server = new Server()
server.addService(GreeterService, { sayHello })
server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, bound) => {
  if (error) throw error
  console.log(`LISTENING ${bound}`)
})
const served = () => console.log(`SERVED ok=${ok} notfound=0 failed=0`)
process.on("SIGUSR2", served)
process.on("SIGTERM", () => {
  served()
  server.forceShutdown()
  process.exit(0)
})
