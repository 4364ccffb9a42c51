import { FiberRef, Option } from "effect"

/**
 * When the request being served must be answered by (epoch ms), if its caller set a deadline. Set by the driving
 * adapter; read by driven adapters that call other services, so they pass on what is left of the budget.
 */
export const RequestDeadline: FiberRef.FiberRef<Option.Option<number>> = FiberRef.unsafeMake(Option.none())
