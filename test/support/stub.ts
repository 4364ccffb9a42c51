import { type Context, Effect, Layer } from "effect"

/** A port implementation where every member not given dies loudly, naming itself. */
export const stub = <I, S extends object>(tag: Context.Tag<I, S>, implementation: Partial<S>): Layer.Layer<I> =>
  Layer.succeed(
    tag,
    new Proxy(implementation, {
      get: (target, property) =>
        property in target
          ? target[property as keyof typeof target]
          : () => Effect.dieMessage(`${tag.key}.${String(property)} is not stubbed in this test`)
    }) as S
  )
