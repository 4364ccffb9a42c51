import { Metric } from "effect"

/**
 * What a cache adapter counts, labelled by adapter (`cache="redis"` or `"memory"`). Effect metrics: the metrics
 * adapter exports them, and nothing here depends on a metrics library.
 */
export interface CacheMetrics {
  readonly hits: Metric.Metric.Counter<number>
  readonly misses: Metric.Metric.Counter<number>
  readonly errors: Metric.Metric.Counter<number>
  readonly bypassed: Metric.Metric.Counter<number>
  readonly corrupt: Metric.Metric.Counter<number>
}

export const cacheMetrics = (cache: "redis" | "memory"): CacheMetrics => {
  const counter = (name: string, description: string) =>
    Metric.counter(name, { description, incremental: true }).pipe(Metric.tagged("cache", cache))
  return {
    hits: counter("cache_hits_total", "Cache lookups answered from the cache"),
    misses: counter("cache_misses_total", "Cache lookups that went on to the database"),
    errors: counter("cache_errors_total", "Cache calls that failed or timed out"),
    bypassed: counter("cache_bypassed_total", "Cache calls skipped because the circuit breaker is open"),
    corrupt: counter("cache_corrupt_total", "Cached values that did not decode and were deleted")
  }
}
