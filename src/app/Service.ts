import { Layer } from "effect"
import { GrpcServerLive } from "../adapters/grpc/GrpcServer.js"
import { MemoryUserCacheLive } from "../adapters/memory/MemoryUserCache.js"
import { PgUserRepositoryLive } from "../adapters/postgres/PgUserRepository.js"
import type { AppConfig } from "./Config.js"
import { DatabaseLive } from "./Database.js"
import { Greeter } from "./Greeter.js"
import { Users } from "./Users.js"

/** The use cases on the adapters the configuration selects. */
export const UseCasesLive = (config: AppConfig) =>
  Greeter.Default.pipe(
    Layer.provideMerge(Users.Default),
    Layer.provide(PgUserRepositoryLive.pipe(Layer.provide(DatabaseLive(config.database)))),
    Layer.provide(MemoryUserCacheLive(config.cache))
  )

/** The whole service: its driving adapters on top of the use cases. Exposes GrpcServer (where it listens). */
export const ServiceLive = (config: AppConfig) =>
  GrpcServerLive({
    host: config.grpc.address.host,
    port: config.grpc.address.port,
    maxReceiveMessageBytes: config.grpc.maxReceiveMessageBytes,
    maxSendMessageBytes: config.grpc.maxSendMessageBytes,
    reflection: config.grpc.reflection,
    shutdownTimeout: config.grpc.shutdownTimeout
  }).pipe(Layer.provide(UseCasesLive(config)))
