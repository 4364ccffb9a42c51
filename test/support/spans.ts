import { Effect, Layer, Tracer } from "effect"

/**
 * Records the name of every span started under it (on top of whatever tracer runs). `sql.execute` spans are
 * @effect/sql's, one per SQL statement sent: counting them counts queries.
 */
export const recordSpans = () => {
  const names: Array<string> = []
  const traces: Array<{ readonly name: string; readonly traceId: string }> = []
  const layer = Layer.unwrapEffect(
    Effect.map(Effect.tracer, (base) =>
      Layer.setTracer(
        Tracer.make({
          span: (name, ...rest) => {
            names.push(name)
            const span = base.span(name, ...rest)
            traces.push({ name, traceId: span.traceId })
            return span
          },
          context: (f, fiber) => base.context(f, fiber)
        })
      )
    )
  )
  const count = (name: string) => names.filter((n) => n === name).length
  return { names, traces, layer, count }
}
