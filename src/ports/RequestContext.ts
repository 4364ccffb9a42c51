import { FiberRef, Option } from "effect"

/**
 * When the request being served must be answered by (epoch ms), if its caller set a deadline. Set by the driving
 * adapter; read by driven adapters that call other services, so they pass on what is left of the budget.
 */
export const RequestDeadline: FiberRef.FiberRef<Option.Option<number>> = FiberRef.unsafeMake(Option.none())

/** Who is calling, as the driving adapter authenticated them (a JWT's subject and scopes). */
export interface Caller {
  readonly subject: string
  readonly scopes: ReadonlySet<string>
}

/**
 * The authenticated caller of the request being served; none when authentication is off. Set by the driving
 * adapter from the transport only (gRPC metadata, the HTTP Authorization header); read by use cases that decide
 * what this caller may see or change (app/Ownership.ts).
 */
export const RequestCaller: FiberRef.FiberRef<Option.Option<Caller>> = FiberRef.unsafeMake(Option.none())
