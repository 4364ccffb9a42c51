import { Effect, Metric, MetricBoundaries } from "effect"

const queryDuration = Metric.histogram(
  "db_query_duration_seconds",
  MetricBoundaries.fromIterable([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]),
  "Duration of SQL statements by repository operation"
)

/** Records how long `effect` (one repository operation, one SQL statement) took, labelled by operation. */
export const timedQuery =
  (operation: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const histogram = queryDuration.pipe(Metric.tagged("operation", operation))
    return Effect.suspend(() => {
      const started = performance.now()
      return Effect.ensuring(
        effect,
        Effect.suspend(() => Metric.update(histogram, (performance.now() - started) / 1000))
      )
    })
  }

const poolConnections = Metric.gauge("db_pool_connections", {
  description: "Database pool connections by state (in_use, idle, waiting: requests waiting for a connection)"
})
const inUse = poolConnections.pipe(Metric.tagged("state", "in_use"))
const idle = poolConnections.pipe(Metric.tagged("state", "idle"))
const waiting = poolConnections.pipe(Metric.tagged("state", "waiting"))

/** Keeps the pool gauges current from the pool's own counts, on each of its events. */
export const trackPool = (pool: {
  readonly totalCount: number
  readonly idleCount: number
  readonly waitingCount: number
  on: (event: "connect" | "acquire" | "release" | "remove", listener: () => void) => unknown
}) => {
  let scheduled = false
  const update = () => {
    scheduled = false
    inUse.unsafeUpdate(pool.totalCount - pool.idleCount, [])
    idle.unsafeUpdate(pool.idleCount, [])
    waiting.unsafeUpdate(pool.waitingCount, [])
  }
  // The pool emits "release" before the connection is back in its idle list: read the counts a tick later.
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(update)
  }
  for (const event of ["connect", "acquire", "release", "remove"] as const) pool.on(event, schedule)
  update()
}
