// A closed-loop gRPC load generator run as a separate process (node --import tsx loadClient.ts '<json>'), so a
// test can SIGTERM the service under load from outside. Prints "LOAD STARTED" after the first answer, then, when
// it stops, one line "LOAD RESULTS <json>" with every call's start and end time (ms since epoch) and status code.
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js"
import { GreeterClient } from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { UserServiceClient } from "../../src/adapters/grpc/generated/users/v1/users.js"

const options: { port: number; workers: number; maxMs: number; method: "sayHello" | "listUsers"; deadlineMs: number } =
  JSON.parse(process.argv[2] ?? "{}")
const address = `127.0.0.1:${options.port}`
const greeter = new GreeterClient(address, credentials.createInsecure())
const users = new UserServiceClient(address, credentials.createInsecure())
const results: Array<{ start: number; end: number; code: number }> = []
const stopAt = Date.now() + options.maxMs
let announced = false
let consecutiveUnavailable = 0

const call = () =>
  new Promise<number>((resolve) => {
    const done = (error: ServiceError | null) => resolve(error ? error.code : 0)
    const opts = { deadline: Date.now() + options.deadlineMs }
    if (options.method === "sayHello") greeter.sayHello({ userId: 1n }, new Metadata(), opts, (e) => done(e))
    else users.listUsers({ pageSize: 5, pageToken: "" }, new Metadata(), opts, (e) => done(e))
  })

const worker = async () => {
  // Stops at maxMs, or once the server is clearly gone (every call refused).
  while (Date.now() < stopAt && consecutiveUnavailable < 50) {
    const start = Date.now()
    const code = await call()
    results.push({ start, end: Date.now(), code })
    consecutiveUnavailable = code === 14 ? consecutiveUnavailable + 1 : 0
    if (code === 0 && !announced) {
      announced = true
      console.log("LOAD STARTED")
    }
  }
}

await Promise.all(Array.from({ length: options.workers }, worker))
console.log(`LOAD RESULTS ${JSON.stringify(results)}`)
greeter.close()
users.close()
