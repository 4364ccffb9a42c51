// npm run bench:hotpath: what one SayHello costs in this process, without the network, grpc-js or Redis: the
// gRPC edge (src/adapters/grpc/Unary.ts) and the use case, driven by a fake call, 64 calls in flight, with a
// cache that answers every batch a hit on the next turn of the event loop (as Redis would). It separates the
// Effect side of a call from what h2load measures, step by step, so a change to the hot path can be judged in
// seconds. Output: microseconds of CPU per call for each step, tracing off, at 10 % and at 100 %.
//
//   npm run bench:hotpath [-- --calls 100000]
import { createServer } from "node:http"
import { parseArgs } from "node:util"
import { Metadata, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js"
import { Duration, Effect, Layer, Logger, LogLevel, ManagedRuntime, Option } from "effect"
import { makeEdgePipeline } from "../src/adapters/edge/Pipeline.js"
import { unaryHandler } from "../src/adapters/grpc/Unary.js"
import { TracingLive, TracingOffLive } from "../src/adapters/observability/Tracing.js"
import { Greeter } from "../src/app/Greeter.js"
import { Users } from "../src/app/Users.js"
import type { AppError } from "../src/domain/errors.js"
import { Email, type User, UserId, UserName } from "../src/domain/User.js"
import { validateField } from "../src/domain/Validation.js"
import { UpstreamGreeter } from "../src/ports/UpstreamGreeter.js"
import { type CacheLookup, UserCache } from "../src/ports/UserCache.js"
import { UserRepository } from "../src/ports/UserRepository.js"

const { values: args } = parseArgs({ options: { calls: { type: "string", default: "100000" } } })
const calls = Number(args.calls)
const IN_FLIGHT = 64

const alice: User = { id: UserId.make(1n), name: UserName.make("Alice"), email: Email.make("alice@example.com") }
// Every batch answered a hit on the next turn of the event loop, like a Redis round trip on loopback.
const hitCache = Layer.succeed(
  UserCache,
  UserCache.of({
    getMany: (ids) =>
      Effect.async<ReadonlyMap<UserId, CacheLookup>>((resume) => {
        setImmediate(() =>
          resume(Effect.succeed(new Map(ids.map((id) => [id, { _tag: "Hit", user: alice } as const]))))
        )
      }),
    fill: () => Effect.void,
    invalidate: () => Effect.void
  })
)
const unusedRepository = Layer.succeed(
  UserRepository,
  UserRepository.of({
    findById: () => Effect.dieMessage("not used: every lookup is a cache hit"),
    findByIds: () => Effect.dieMessage("not used: every lookup is a cache hit"),
    list: () => Effect.dieMessage("not used"),
    insert: () => Effect.dieMessage("not used"),
    update: () => Effect.dieMessage("not used"),
    delete: () => Effect.dieMessage("not used")
  })
)

// Spans go to a sink that accepts them, as a collector would.
const sink = createServer((request, response) => {
  request.resume()
  request.on("end", () => response.writeHead(200, { "content-type": "application/json" }).end("{}"))
})
await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve))
const address = sink.address()
const collector = `127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`

type Reply = { readonly message: string }
type Step = (greeter: Greeter, users: Users) => (request: { readonly userId: bigint }) => Effect.Effect<Reply, AppError>
const validUserId = validateField(UserId, "user_id")
const pending: Array<() => void> = []
const steps: ReadonlyArray<readonly [string, Step]> = [
  ["edge only (handler returns at once)", () => () => Effect.succeed({ message: "Hello" })],
  ["+ input validation", () => (request) => Effect.as(validUserId(request.userId), { message: "Hello" })],
  [
    "+ one async wait (resumed next turn)",
    () => () =>
      Effect.async<Reply>((resume) => {
        if (pending.length === 0) {
          setImmediate(() => {
            for (const wake of pending.splice(0)) wake()
          })
        }
        pending.push(() => resume(Effect.succeed({ message: "Hello" })))
      })
  ],
  [
    "Users.findById (loader, batch, span)",
    (_, users) => () => Effect.as(users.findById(alice.id), { message: "Hello" })
  ],
  ["Greeter.sayHello (the whole call)", (greeter) => (request) => greeter.sayHello(request.userId)]
]

const measure = async (tracing: "off" | number) => {
  const layer = Greeter.Default.pipe(
    Layer.provideMerge(Users.Default),
    Layer.provide(Layer.mergeAll(hitCache, unusedRepository, UpstreamGreeter.none)),
    Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Warning)),
    Layer.provideMerge(
      tracing === "off"
        ? TracingOffLive
        : TracingLive({
            collector,
            serviceName: "hotpath",
            serviceVersion: "0",
            environment: "bench",
            sampleRatio: tracing,
            shutdownTimeout: Duration.seconds(1)
          })
    )
  )
  const managed = ManagedRuntime.make(layer)
  const runtime = await managed.runtime()
  const greeter = await managed.runPromise(Greeter)
  const users = await managed.runPromise(Users)
  const results: Array<number> = []
  for (const [, step] of steps) {
    const pipeline = makeEdgePipeline(
      "grpc",
      {
        requestTimeout: Duration.seconds(5),
        admission: { maxInFlight: 1_000_000, ratePerSecond: 0, burst: 1 },
        auth: Option.none(),
        writeScope: "users:write"
      },
      runtime
    )
    const handler = unaryHandler(pipeline, "SayHello", "/hello_world.Greeter/SayHello", step(greeter, users))
    const metadata = new Metadata()
    const call = {
      request: { userId: 1n },
      metadata,
      getDeadline: () => Number.POSITIVE_INFINITY,
      getPeer: () => "ipv4:127.0.0.1:50000",
      getAuthContext: () => ({}),
      sendMetadata: () => undefined,
      on: () => call
    } as unknown as ServerUnaryCall<{ userId: bigint }, Reply>
    const run = (n: number) =>
      new Promise<void>((resolve, reject) => {
        let started = 0
        let done = 0
        const next = () => {
          if (started === n) return
          started += 1
          const answer: sendUnaryData<Reply> = (error) => {
            if (error) return reject(new Error(`call failed: ${error.details ?? error.code}`))
            done += 1
            if (done === n) resolve()
            else queueMicrotask(next)
          }
          handler(call, answer)
        }
        for (let i = 0; i < IN_FLIGHT; i++) next()
      })
    await run(Math.min(20_000, calls)) // warm-up (JIT)
    const cpu = process.cpuUsage()
    await run(calls)
    const used = process.cpuUsage(cpu)
    results.push((used.user + used.system) / calls)
  }
  await managed.dispose()
  return results
}

const columns: Array<readonly [string, Array<number>]> = [
  ["tracing off", await measure("off")],
  ["tracing 10%", await measure(0.1)],
  ["tracing 100%", await measure(1)]
]
sink.close()

console.log(`\nCPU µs per call, ${calls} calls, ${IN_FLIGHT} in flight, in process (no network, grpc-js or Redis)\n`)
console.log(`| step | ${columns.map(([name]) => name).join(" | ")} |`)
console.log(`|---|${columns.map(() => "---").join("|")}|`)
steps.forEach(([name], i) => {
  console.log(`| ${name} | ${columns.map(([, values]) => (values[i] ?? 0).toFixed(1)).join(" | ")} |`)
})
