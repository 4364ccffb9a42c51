import { LRUCache } from "lru-cache"

export interface AdmissionOptions {
  /** Calls served at once; beyond it new calls are shed at once (MAX_IN_FLIGHT). */
  readonly maxInFlight: number
  /** Per caller: sustained calls a second (0: no per-caller limit) and the burst above it. */
  readonly ratePerSecond: number
  readonly burst: number
}

export type Admitted =
  | { readonly ok: true; readonly leave: () => void }
  | { readonly ok: false; readonly reason: string }

/**
 * Admission control in front of every call: a global in-flight limit and an optional token bucket per caller
 * (the mTLS subject, else the peer address). Shed calls fail in microseconds with RESOURCE_EXHAUSTED, so an
 * overloaded server stays responsive (and /livez, served apart, keeps answering). Synchronous counters rather
 * than fibers: this runs for every call, before any Effect is started.
 */
export const makeAdmission = (options: AdmissionOptions) => {
  let inFlight = 0
  const buckets = new LRUCache<string, { tokens: number; at: number }>({ max: 10_000 })
  const leave = () => {
    inFlight -= 1
  }
  const withinRate = (caller: string): boolean => {
    if (options.ratePerSecond <= 0) return true
    const now = performance.now()
    const bucket = buckets.get(caller) ?? { tokens: options.burst, at: now }
    bucket.tokens = Math.min(options.burst, bucket.tokens + ((now - bucket.at) / 1000) * options.ratePerSecond)
    bucket.at = now
    buckets.set(caller, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }
  return {
    enter: (caller: string): Admitted => {
      if (inFlight >= options.maxInFlight) {
        return { ok: false, reason: `server overloaded: ${options.maxInFlight} calls in flight; retry later` }
      }
      if (!withinRate(caller))
        return { ok: false, reason: `rate limit exceeded for ${caller.slice(0, 64)}; retry later` }
      inFlight += 1
      return { ok: true, leave }
    },
    inFlight: () => inFlight
  }
}
export type Admission = ReturnType<typeof makeAdmission>
