import { Context, Effect, Tracer } from "effect"

/**
 * `Effect.withSpan` for the read path, which runs on every SayHello/GetUser call:
 * - no stack trace is captured per call (Effect.fn and withSpan take a `new Error()` for the span's source
 *   location, which costs more than the rest of the span);
 * - under a parent that is not sampled (a trace the sampler dropped), no span is made at all: it would be a
 *   non-recording span that nobody sees, and the effect runs under the parent, whose trace id its logs keep.
 */
export const hotSpan =
  (name: string, options?: Omit<Tracer.SpanOptions, "captureStackTrace">) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime((fiber) => {
      const parent = Context.getOrElse(fiber.currentContext, Tracer.ParentSpan, () => undefined)
      return parent !== undefined && !parent.sampled
        ? self
        : Effect.withSpan(self, name, { ...options, captureStackTrace: false })
    })
