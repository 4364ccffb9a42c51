// The baseline of `npm run bench`: SayHello the plain way, with @grpc/grpc-js and ioredis and nothing else (no
// Effect, no metrics, no tracing, no validation beyond the id, no coalescing or batching): Redis GET, on a miss a
// Postgres query and a SET. Usage: tsx bench/baseline-server.ts <port> <redis-url> <database-url> [key-prefix].
// Prints "LISTENING <port>"; on SIGUSR2 (and at SIGTERM) "SERVED ok=<n> notfound=<n> failed=<n>", the counts
// so far, which is how bench/run.ts checks that h2load's answers were really OK.
import { type handleUnaryCall, Server, ServerCredentials, status } from "@grpc/grpc-js"
import { Redis } from "ioredis"
import pg from "pg"
import {
  GreeterService,
  type SayHelloRequest,
  type SayHelloResponse
} from "../src/adapters/grpc/generated/hello_world/hello_world.js"

const [
  port = "0",
  redisUrl = "redis://127.0.0.1:6379",
  databaseUrl = "postgres://postgres@127.0.0.1:5432/postgres",
  keyPrefix = "bench-baseline:"
] = process.argv.slice(2)
const redis = new Redis(redisUrl, { keyPrefix })
const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 })
let ok = 0
let notFound = 0
let failed = 0

const sayHello: handleUnaryCall<SayHelloRequest, SayHelloResponse> = (call, callback) => {
  const id = call.request.userId
  if (id <= 0n) {
    failed++
    callback({ code: status.INVALID_ARGUMENT, details: "invalid user_id" })
    return
  }
  const reply = (user: { id: string; name: string; email: string }) => {
    ok++
    callback(null, {
      message: `Hello, ${user.name}!`,
      user: { id: BigInt(user.id), name: user.name, email: user.email }
    })
  }
  const fail = (code: status, details: string) => {
    failed++
    callback({ code, details })
  }
  redis.get(`user:${id}`).then(
    (cached) => {
      if (cached !== null) return reply(JSON.parse(cached))
      pool.query("SELECT id::text, name, email FROM users WHERE id = $1", [String(id)]).then(
        (result) => {
          const row = result.rows[0]
          if (row === undefined) {
            notFound++
            callback({ code: status.NOT_FOUND, details: "user not found" })
            return
          }
          redis.set(`user:${id}`, JSON.stringify(row), "EX", 60).catch(() => {})
          reply(row)
        },
        () => fail(status.UNAVAILABLE, "database unavailable")
      )
    },
    () => fail(status.UNAVAILABLE, "cache unavailable")
  )
}

const server = new Server()
server.addService(GreeterService, { sayHello })
server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, bound) => {
  if (error) throw error
  console.log(`LISTENING ${bound}`)
})
const served = () => console.log(`SERVED ok=${ok} notfound=${notFound} failed=${failed}`)
process.on("SIGUSR2", served)
process.on("SIGTERM", () => {
  served()
  server.forceShutdown()
  redis.disconnect()
  void pool.end().then(() => process.exit(0))
})
