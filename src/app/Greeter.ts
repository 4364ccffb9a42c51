import { Effect } from "effect"
import { UserId } from "../domain/User.js"
import { validateField } from "../domain/Validation.js"
import { Users } from "./Users.js"

/** The Go boilerplate's greeting: `Hello, <name>!` with the user it greets. */
export class Greeter extends Effect.Service<Greeter>()("effect-microservice/Greeter", {
  effect: Effect.gen(function* () {
    const users = yield* Users
    const sayHello = Effect.fn("Greeter.sayHello")(function* (rawUserId: bigint) {
      const user = yield* users.findById(yield* validateField(UserId, "user_id")(rawUserId))
      return { message: `Hello, ${user.name}!`, user } as const
    })
    return { sayHello } as const
  })
}) {}
