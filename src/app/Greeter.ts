import { Effect } from "effect"
import { UserId } from "../domain/User.js"
import { validateField } from "../domain/Validation.js"
import { UpstreamGreeter } from "../ports/UpstreamGreeter.js"
import { hotSpan } from "./Span.js"
import { Users } from "./Users.js"

/** The Go boilerplate's greeting: `Hello, <name>!` with the user it greets. */
export class Greeter extends Effect.Service<Greeter>()("effect-microservice/Greeter", {
  effect: Effect.gen(function* () {
    const users = yield* Users
    const upstream = yield* UpstreamGreeter
    const validUserId = validateField(UserId, "user_id")
    // The hot path (every SayHello): a plain pipeline rather than Effect.fn and a generator, which cost more per
    // call than the work itself; the span is made by hotSpan.
    const sayHello = (rawUserId: bigint) =>
      validUserId(rawUserId).pipe(
        // With GREETER_UPSTREAM_URL set, the upstream Greeter is asked first (the two-service tracing demo).
        Effect.flatMap((id) => Effect.zipRight(upstream.sayHello(id), users.findById(id))),
        Effect.map((user) => ({ message: `Hello, ${user.name}!`, user }) as const),
        hotSpan("Greeter.sayHello")
      )
    return { sayHello } as const
  })
}) {}
