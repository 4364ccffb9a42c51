import { Context, Effect, FiberRef, Tracer } from "effect"

/**
 * `Effect.withSpan` for the read path, which runs on every SayHello/GetUser call:
 * - no stack trace is captured per call (Effect.fn and withSpan take a `new Error()` for the span's source
 *   location, which costs more than the rest of the span);
 * - no span is made at all when nothing would record it: under a parent that is not sampled (a trace the sampler
 *   dropped, or a tracer of unsampled spans such as tracing off), or with Effect's tracer switched off
 *   (`Layer.setTracerEnabled(false)`). The effect then runs under the parent, whose trace id its logs keep.
 *   Both are facts about the fiber, not about which tracer is installed, so any tracing-off layer works.
 */
export const hotSpan =
  (name: string, options?: Omit<Tracer.SpanOptions, "captureStackTrace">) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime((fiber) => {
      if (!fiber.getFiberRef(FiberRef.currentTracerEnabled)) return self
      const parent = Context.getOrElse(fiber.currentContext, Tracer.ParentSpan, () => undefined)
      return parent !== undefined && !parent.sampled
        ? self
        : Effect.withSpan(self, name, { ...options, captureStackTrace: false })
    })
