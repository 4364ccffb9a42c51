import { Context, Deferred, Effect, Layer } from "effect"
import type { AuditTrail } from "./Audit.js"
import type { Greeter } from "./Greeter.js"
import type { Users } from "./Users.js"

export type UseCases = Users | Greeter | AuditTrail

/**
 * The use cases once they are built. Driving adapters built before them (the HTTP server starts first, so
 * probes answer during startup, and closes last) reach them through this.
 */
export class UseCasesReady extends Context.Tag("effect-microservice/UseCasesReady")<
  UseCasesReady,
  Deferred.Deferred<Context.Context<UseCases>>
>() {
  static readonly layer = Layer.effect(UseCasesReady, Deferred.make<Context.Context<UseCases>>())
  /** Fills UseCasesReady when the use cases are built. */
  static readonly fill = Layer.effectDiscard(
    Effect.gen(function* () {
      const ready = yield* UseCasesReady
      yield* Deferred.succeed(ready, yield* Effect.context<UseCases>())
    })
  )
}
