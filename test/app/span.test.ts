import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Tracer } from "effect"
import { TracingOffLive } from "../../src/adapters/observability/Tracing.js"
import { hotSpan } from "../../src/app/Span.js"

/** The name of the span the effect runs under (or the id of an external one). */
const parentName = Effect.currentParentSpan.pipe(
  Effect.map((span) => (span._tag === "Span" ? span.name : `external ${span.spanId}`))
)

describe("hotSpan", () => {
  it.effect("makes a named child span, with its attributes, under a sampled parent", () =>
    Effect.gen(function* () {
      const span = yield* Effect.currentSpan.pipe(
        hotSpan("Users.findById", { attributes: { "user.id": "7" } }),
        Effect.withSpan("server")
      )
      assert.strictEqual(span.name, "Users.findById")
      assert.strictEqual(span.attributes.get("user.id"), "7")
      assert.strictEqual(Option.getOrUndefined(span.parent)?.spanId !== undefined, true)
    })
  )

  it.effect("makes no span under a parent the sampler dropped: the effect runs under that parent", () =>
    Effect.gen(function* () {
      const dropped = Tracer.externalSpan({ traceId: "a".repeat(32), spanId: "b".repeat(16), sampled: false })
      const seen = yield* parentName.pipe(hotSpan("Users.findById"), Effect.withParentSpan(dropped))
      assert.strictEqual(seen, `external ${"b".repeat(16)}`)
    })
  )

  it.effect("makes the span under a sampled external parent (a caller's trace)", () =>
    Effect.gen(function* () {
      const caller = Tracer.externalSpan({ traceId: "c".repeat(32), spanId: "d".repeat(16), sampled: true })
      const seen = yield* parentName.pipe(hotSpan("Greeter.sayHello"), Effect.withParentSpan(caller))
      assert.strictEqual(seen, "Greeter.sayHello")
    })
  )
})

describe("tracing off (TracingOffLive)", () => {
  it.effect("spans are unsampled, keep ids for logs, and the hot path makes no child spans", () =>
    Effect.gen(function* () {
      const [server, inner] = yield* Effect.currentSpan.pipe(
        Effect.zip(parentName.pipe(hotSpan("Greeter.sayHello"))),
        Effect.withSpan("hello_world.Greeter/SayHello")
      )
      assert.isFalse(server.sampled)
      assert.match(server.traceId, /^[0-9a-f]{32}$/)
      assert.match(server.spanId, /^[0-9a-f]{16}$/)
      assert.strictEqual(inner, "hello_world.Greeter/SayHello")
    }).pipe(Effect.provide(TracingOffLive))
  )

  it.effect("leaves a tracer someone installed in place", () => {
    const names: Array<string> = []
    const recorder = Layer.unwrapEffect(
      Effect.map(Effect.tracer, (base) =>
        Layer.setTracer(
          Tracer.make({
            span: (name, ...rest) => {
              names.push(name)
              return base.span(name, ...rest)
            },
            context: (f, fiber) => base.context(f, fiber)
          })
        )
      )
    )
    return Effect.gen(function* () {
      yield* Effect.void.pipe(Effect.withSpan("recorded"))
      assert.deepStrictEqual(names, ["recorded"])
    }).pipe(Effect.provide(TracingOffLive.pipe(Layer.provide(recorder))))
  })
})
