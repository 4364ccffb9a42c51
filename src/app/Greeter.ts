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
    // The hot path: Effect.fn without its per-call costs (see hotSpan).
    const sayHello = Effect.fnUntraced(function* (rawUserId: bigint) {
      const id = yield* validUserId(rawUserId)
      // With GREETER_UPSTREAM_URL set, the upstream Greeter is asked first (the two-service tracing demo).
      yield* upstream.sayHello(id)
      const user = yield* users.findById(id)
      return { message: `Hello, ${user.name}!`, user } as const
    }, hotSpan("Greeter.sayHello"))
    return { sayHello } as const
  })
}) {}
