import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Client, type ClientUnaryCall, credentials, Metadata, type ServiceError } from "@grpc/grpc-js"
import { loadSync } from "@grpc/proto-loader"
import { Duration, Effect, Option, type Runtime } from "effect"
import { makeEdgePipeline } from "../../src/adapters/edge/Pipeline.js"
import {
  GreeterClient,
  GreeterService,
  type SayHelloRequest,
  type SayHelloResponse
} from "../../src/adapters/grpc/generated/hello_world/hello_world.js"
import { UserServiceClient } from "../../src/adapters/grpc/generated/users/v1/users.js"
import { unaryHandler } from "../../src/adapters/grpc/Unary.js"
import type { AppError } from "../../src/domain/errors.js"

/**
 * A SayHello handler on the real gRPC edge (the pipeline and grpc/Unary.ts) around `handle`: 5 s request timeout,
 * 100 calls in flight, no per-caller limit, no authentication.
 */
export const sayHelloOnEdge = (
  runtime: Runtime.Runtime<never>,
  handle: (request: SayHelloRequest) => Effect.Effect<SayHelloResponse, AppError>
) =>
  unaryHandler(
    makeEdgePipeline(
      "grpc",
      {
        requestTimeout: Duration.seconds(5),
        admission: { maxInFlight: 100, ratePerSecond: 0, burst: 1 },
        auth: Option.none(),
        writeScope: "users:write"
      },
      runtime
    ),
    "SayHello",
    GreeterService.sayHello.path,
    handle
  )

export interface Clients {
  readonly greeter: GreeterClient
  readonly users: UserServiceClient
}

/** Generated grpc-js clients for a server on this machine, closed with the scope. */
export const clientsFor = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => ({
      greeter: new GreeterClient(`127.0.0.1:${port}`, credentials.createInsecure()),
      users: new UserServiceClient(`127.0.0.1:${port}`, credentials.createInsecure())
    })),
    (clients) =>
      Effect.sync(() => {
        clients.greeter.close()
        clients.users.close()
      })
  )

type Callback<Res> = (error: ServiceError | null, response: Res) => void

/** One unary call as an Effect; interrupting it cancels the call, as a client that goes away would. */
export const unary = <Res>(start: (callback: Callback<Res>) => ClientUnaryCall): Effect.Effect<Res, ServiceError> =>
  Effect.async<Res, ServiceError>((resume) => {
    const call = start((error, response) => resume(error ? Effect.fail(error) : Effect.succeed(response)))
    return Effect.sync(() => call.cancel())
  })

/** Call options with a deadline `ms` from now. */
export const within = (ms: number) => [new Metadata(), { deadline: Date.now() + ms }] as const

/** The status code and details of a failed call (fails the test if the call succeeds). */
export const statusOf = <Res, R>(call: Effect.Effect<Res, ServiceError, R>) =>
  Effect.flip(call).pipe(Effect.map((error) => ({ code: error.code, details: error.details })))

interface ReflectionResponse {
  readonly listServicesResponse?: { readonly service?: ReadonlyArray<{ readonly name: string }> }
}

/** The services a server lists through gRPC reflection (v1), as `grpcurl -plaintext host:port list` does. */
export const listServicesByReflection = (port: number) =>
  Effect.async<ReadonlyArray<string>, Error>((resume) => {
    const require = createRequire(import.meta.url)
    const root = join(dirname(require.resolve("@grpc/reflection/package.json")), "build", "proto")
    const service = loadSync("grpc/reflection/v1/reflection.proto", { includeDirs: [root] })[
      "grpc.reflection.v1.ServerReflection"
    ]
    const method = service !== undefined && "ServerReflectionInfo" in service ? service.ServerReflectionInfo : undefined
    if (method === undefined) return resume(Effect.fail(new Error("reflection proto did not load")))
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure())
    const stream = client.makeBidiStreamRequest<{ listServices: string }, ReflectionResponse>(
      method.path,
      method.requestSerialize,
      method.responseDeserialize
    )
    stream.on("data", (response: ReflectionResponse) => {
      resume(Effect.succeed((response.listServicesResponse?.service ?? []).map((s) => s.name)))
      stream.end()
      client.close()
    })
    stream.on("error", (error: Error) => {
      client.close()
      resume(Effect.fail(error))
    })
    stream.write({ listServices: "" })
  })
