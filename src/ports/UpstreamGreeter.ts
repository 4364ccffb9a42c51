import { Context, Effect, Layer } from "effect"
import type { DeadlineExceeded, DependencyUnavailable, UserNotFound } from "../domain/errors.js"
import type { UserId } from "../domain/User.js"

/**
 * Another Greeter service this one calls first (the Go article's two-service tracing demo): one request, one
 * trace across both services.
 */
export class UpstreamGreeter extends Context.Tag("effect-microservice/UpstreamGreeter")<
  UpstreamGreeter,
  {
    readonly sayHello: (id: UserId) => Effect.Effect<void, UserNotFound | DeadlineExceeded | DependencyUnavailable>
  }
>() {
  /** No upstream configured: nothing to call. */
  static readonly none = Layer.succeed(UpstreamGreeter, { sayHello: () => Effect.void })
}
