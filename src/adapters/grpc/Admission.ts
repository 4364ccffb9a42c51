import { LRUCache } from "lru-cache"

/** The adaptive limit's settings (MAX_IN_FLIGHT=auto); every field has a default. */
export interface AdaptiveLimitOptions {
  /** The limit it starts at. */
  readonly initial?: number
  /** It never goes below this (the floor) ... */
  readonly min?: number
  /** ... nor above this (the ceiling). */
  readonly max?: number
  /** Latency may grow to this multiple of the long-term latency before the limit shrinks. */
  readonly tolerance?: number
  /** How far the limit moves toward its new estimate at each update (0–1). */
  readonly smoothing?: number
  /** The limit is re-estimated at most this often, and only from this many samples or more. */
  readonly windowMs?: number
  readonly windowSamples?: number
  /** How many samples the long-term latency averages over (an exponential moving average). */
  readonly longWindow?: number
}

export interface AdmissionOptions {
  /** Calls served at once (MAX_IN_FLIGHT): a number, or "auto" for a limit that follows the observed latency. */
  readonly maxInFlight: number | "auto"
  /** Per caller: sustained calls a second (0: no per-caller limit) and the burst above it. */
  readonly ratePerSecond: number
  readonly burst: number
  readonly adaptive?: AdaptiveLimitOptions
  /** The clock, in milliseconds (performance.now() by default; tests pass their own). */
  readonly now?: () => number
}

export type Admitted =
  | { readonly ok: true; readonly leave: () => void }
  | { readonly ok: false; readonly reason: string }

/** What happened since the previous report: calls shed, and the limit then and now. */
export interface AdmissionReport {
  readonly shed: number
  readonly limit: number
  readonly previousLimit: number
}

// Reports (the shed summary line, limit changes) at most this often.
const REPORT_EVERY_MS = 10_000

/**
 * A gradient concurrency limit, after Netflix's concurrency-limits Gradient2: the limit follows the ratio of the
 * long-term latency of admitted calls to the latency of the last window. While latency stays within `tolerance`
 * of its long-term average the limit grows by about √limit a window; when latency grows beyond it (calls queue
 * for the CPU or a dependency) the limit shrinks, by at most half a window. It only grows while it is used (more
 * than half of it in flight), and the long-term average forgets an old high latency quickly once latency falls.
 */
export const makeGradientLimit = (options: AdaptiveLimitOptions = {}) => {
  const min = Math.max(1, options.min ?? 8)
  const max = Math.max(min, options.max ?? 1000)
  const tolerance = options.tolerance ?? 1.5
  const smoothing = options.smoothing ?? 0.2
  const windowMs = options.windowMs ?? 100
  const windowSamples = options.windowSamples ?? 10
  const longFactor = 2 / ((options.longWindow ?? 600) + 1)
  let estimate = Math.min(max, Math.max(min, options.initial ?? 64))
  let limit = Math.floor(estimate)
  let longRtt = 0
  let windowStart = -1
  let sum = 0
  let count = 0
  let maxInFlight = 0
  return {
    limit: () => limit,
    /** One admitted call's latency (ms) ended at `now`; `inFlight` were in flight when it started. */
    sample: (rttMs: number, inFlight: number, now: number) => {
      if (windowStart < 0) windowStart = now
      sum += rttMs
      count += 1
      if (inFlight > maxInFlight) maxInFlight = inFlight
      if (now - windowStart < windowMs || count < windowSamples) return
      const shortRtt = sum / count
      const used = maxInFlight
      windowStart = now
      sum = 0
      count = 0
      maxInFlight = 0
      if (shortRtt <= 0) return
      longRtt = longRtt === 0 ? shortRtt : longRtt + (shortRtt - longRtt) * longFactor
      // Latency fell well below the long-term average: forget the old level faster (drift correction).
      if (longRtt / shortRtt > 2) longRtt *= 0.95
      // Not limited by the limit (app-limited): no reason to grow it.
      if (used < estimate / 2) return
      const gradient = Math.max(0.5, Math.min(1, (tolerance * longRtt) / shortRtt))
      const next = estimate * gradient + Math.sqrt(estimate)
      estimate = Math.min(max, Math.max(min, estimate * (1 - smoothing) + next * smoothing))
      limit = Math.floor(estimate)
    }
  }
}
export type GradientLimit = ReturnType<typeof makeGradientLimit>

/**
 * Admission control in front of every call: a limit on calls in flight (fixed, or adaptive with
 * MAX_IN_FLIGHT=auto) and an optional token bucket per caller (the mTLS subject, else the peer address). Shed
 * calls fail in microseconds with RESOURCE_EXHAUSTED, so an overloaded server stays responsive (and /livez, served
 * apart, keeps answering). Synchronous counters rather than fibers: this runs for every call, before any Effect is
 * started. Refusals are counted; `report` hands the count (and limit changes) to the caller for one summary log
 * line at most every 10 s, instead of a line per refused call.
 */
export const makeAdmission = (options: AdmissionOptions) => {
  const now = options.now ?? (() => performance.now())
  const adaptive = options.maxInFlight === "auto" ? makeGradientLimit(options.adaptive) : undefined
  const fixed = options.maxInFlight === "auto" ? 0 : options.maxInFlight
  const currentLimit = adaptive === undefined ? () => fixed : adaptive.limit
  let inFlight = 0
  let shed = 0
  let reportedLimit = currentLimit()
  // The first report is due at once (overload began), then at most every REPORT_EVERY_MS.
  let nextReportAt = now()
  const buckets = new LRUCache<string, { tokens: number; at: number }>({ max: 10_000 })
  const leaveFixed = () => {
    inFlight -= 1
  }
  const admitted: Admitted = { ok: true, leave: leaveFixed }
  const withinRate = (caller: string): boolean => {
    if (options.ratePerSecond <= 0) return true
    const at = now()
    const bucket = buckets.get(caller) ?? { tokens: options.burst, at }
    bucket.tokens = Math.min(options.burst, bucket.tokens + ((at - bucket.at) / 1000) * options.ratePerSecond)
    bucket.at = at
    buckets.set(caller, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }
  return {
    /** Admits a call (the caller is read only when a per-caller rate limit is set) or says why not. */
    enter: (caller: string | (() => string)): Admitted => {
      const limit = currentLimit()
      if (inFlight >= limit) {
        shed += 1
        return { ok: false, reason: `server overloaded: ${limit} calls in flight; retry later` }
      }
      if (options.ratePerSecond > 0) {
        const name = typeof caller === "string" ? caller : caller()
        if (!withinRate(name)) {
          shed += 1
          return { ok: false, reason: `rate limit exceeded for ${name.slice(0, 64)}; retry later` }
        }
      }
      inFlight += 1
      if (adaptive === undefined) return admitted
      const started = now()
      const startedWith = inFlight
      let left = false
      return {
        ok: true,
        leave: () => {
          if (left) return
          left = true
          inFlight -= 1
          const ended = now()
          adaptive.sample(ended - started, startedWith, ended)
        }
      }
    },
    inFlight: () => inFlight,
    /** The limit on calls in flight now. */
    limit: currentLimit,
    /** Whether the limit adapts (MAX_IN_FLIGHT=auto). */
    adaptive: adaptive !== undefined,
    /**
     * At most every 10 s, and only when something happened (calls shed, or the limit moved): what, since the
     * previous report. Cheap enough to call on every call.
     */
    report: (): AdmissionReport | undefined => {
      if (shed === 0 && currentLimit() === reportedLimit) return undefined
      const at = now()
      if (at < nextReportAt) return undefined
      nextReportAt = at + REPORT_EVERY_MS
      const report = { shed, limit: currentLimit(), previousLimit: reportedLimit }
      shed = 0
      reportedLimit = report.limit
      return report
    }
  }
}
export type Admission = ReturnType<typeof makeAdmission>
