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
  /** Invalidations that failed and wait to be retried in the background. */
  readonly invalidationsPending: Metric.Metric.Gauge<number>
  /** Background retries of failed invalidations, by outcome. */
  readonly invalidationRetries: (outcome: "ok" | "failed" | "expired") => Metric.Metric.Counter<number>
}

export const cacheMetrics = (cache: "redis" | "memory"): CacheMetrics => {
  const counter = (name: string, description: string) =>
    Metric.counter(name, { description, incremental: true }).pipe(Metric.tagged("cache", cache))
  return {
    hits: counter("cache_hits_total", "Cache lookups answered from the cache"),
    misses: counter("cache_misses_total", "Cache lookups that went on to the database"),
    errors: counter("cache_errors_total", "Cache calls that failed or timed out"),
    bypassed: counter("cache_bypassed_total", "Cache calls skipped because the circuit breaker is open"),
    corrupt: counter("cache_corrupt_total", "Cached values that did not decode and were deleted"),
    invalidationsPending: Metric.gauge("cache_invalidations_pending", {
      description: "Failed cache invalidations waiting to be retried (their entries are not served meanwhile)"
    }).pipe(Metric.tagged("cache", cache)),
    invalidationRetries: (outcome) =>
      counter(
        "cache_invalidation_retries_total",
        "Background retries of failed cache invalidations: ok, failed (tried again), expired (the entry's TTL ran out first)"
      ).pipe(Metric.tagged("outcome", outcome))
  }
}
