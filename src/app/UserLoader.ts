import {
  Cause,
  Context,
  Effect,
  Exit,
  type Fiber,
  FiberId,
  Metric,
  MetricBoundaries,
  Option,
  Runtime,
  Tracer
} from "effect"
import type { DependencyUnavailable, StorageError } from "../domain/errors.js"
import type { User, UserId } from "../domain/User.js"
import { type CacheFill, type CacheLookup, UserCache } from "../ports/UserCache.js"
import { UserRepository } from "../ports/UserRepository.js"

/** Lookups that joined a load of the same id already under way. */
export const coalescedLookups = Metric.counter("user_loader_coalesced_total", {
  description: "User lookups served by joining an identical lookup already in flight"
})
/** Distinct ids per batch (one cache round trip and at most one SQL query each). */
export const batchSizes = Metric.histogram(
  "user_loader_batch_size",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 9 }),
  "Distinct user ids loaded together in one batch"
)

type Result = Exit.Exit<Option.Option<User>, StorageError>

interface Waiter {
  readonly resume: (result: Effect.Effect<Option.Option<User>, StorageError>) => void
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  /** Called when the caller's fiber ends before its answer came. */
  readonly gone: () => void
}

interface Batch {
  /** The callers waiting on each id of the batch. */
  readonly waiting: Map<UserId, Array<Waiter>>
  /** Callers still waiting on any id of this batch; when it drops to 0 the batch is cancelled. */
  waiters: number
  fiber: Fiber.RuntimeFiber<unknown> | undefined
  /** Settled, or being interrupted because every caller left: new lookups of its ids start a batch of their own. */
  done: boolean
  readonly parent: Option.Option<Tracer.AnySpan>
}

/**
 * Loads users cache-aside, sharing work between concurrent requests:
 * - a lookup of an id whose load is already under way joins it (one cache GET and one query per id);
 * - the distinct ids asked for in the same turn of the event loop are loaded together: one cache round trip
 *   (MGET) and one `WHERE id = ANY($1)` query for the misses;
 * - the cache fails open: its errors count as misses and the batch goes on to the database;
 * - a batch is interrupted (its SQL query cancelled) only when every caller waiting on it has gone.
 */
export const makeUserLoader = Effect.gen(function* () {
  const repository = yield* UserRepository
  const cache = yield* UserCache
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())
  const inFlight = new Map<UserId, Batch>()
  let collecting: Batch | undefined

  const cacheFailed = (operation: string) => (error: DependencyUnavailable) =>
    Effect.logDebug("cache call failed; continuing without the cache").pipe(
      Effect.annotateLogs({ operation, error: error.message })
    )

  const load = (ids: ReadonlyArray<UserId>) =>
    Effect.gen(function* () {
      yield* Metric.update(batchSizes, ids.length)
      const lookups = yield* cache.getMany(ids).pipe(
        Effect.tapError(cacheFailed("getMany")),
        Effect.orElseSucceed((): ReadonlyMap<UserId, CacheLookup> => new Map())
      )
      const results = new Map<UserId, Result>()
      const misses: Array<UserId> = []
      for (const id of ids) {
        const lookup = lookups.get(id)
        if (lookup?._tag === "Hit") results.set(id, Exit.succeed(Option.some(lookup.user)))
        else if (lookup?._tag === "Absent") results.set(id, Exit.succeed(Option.none()))
        else misses.push(id)
      }
      if (misses.length > 0) {
        const found = yield* Effect.exit(repository.findByIds(misses))
        if (Exit.isFailure(found)) {
          for (const id of misses) results.set(id, Exit.failCause(found.cause))
        } else {
          const byId = new Map(found.value.map((user) => [user.id, user] as const))
          const fills: Array<CacheFill> = []
          for (const id of misses) {
            const user = Option.fromNullable(byId.get(id))
            results.set(id, Exit.succeed(user))
            const lookup = lookups.get(id)
            if (lookup?._tag === "Miss") fills.push({ id, user, lease: lookup.lease })
          }
          if (fills.length > 0) yield* cache.fill(fills).pipe(Effect.tapError(cacheFailed("fill")), Effect.ignore)
        }
      }
      return results
    })

  /** From now on, lookups of the batch's ids do not join it. */
  const close = (batch: Batch) => {
    batch.done = true
    for (const id of batch.waiting.keys()) if (inFlight.get(id) === batch) inFlight.delete(id)
  }

  const settle = (batch: Batch, outcome: Exit.Exit<Map<UserId, Result>>) => {
    close(batch)
    const interrupted = Exit.isInterrupted(outcome)
    for (const [id, waiting] of batch.waiting) {
      const result = Exit.isSuccess(outcome) ? outcome.value.get(id) : undefined
      const exit = result ?? Exit.failCause(Exit.isFailure(outcome) ? outcome.cause : Cause.empty)
      for (const waiter of waiting.splice(0)) {
        waiter.fiber.removeObserver(waiter.gone)
        // A caller still here never inherits another caller's cancellation: it looks the id up again.
        waiter.resume(interrupted ? findById(id) : exit)
      }
    }
  }

  const start = (batch: Batch) => {
    if (collecting === batch) collecting = undefined
    if (batch.done) return
    const ids = [...batch.waiting.keys()]
    const traced = load(ids).pipe(
      Effect.withSpan("UserLoader.load", {
        captureStackTrace: false,
        attributes: { "user.ids": ids.length },
        ...(Option.isSome(batch.parent) ? { parent: batch.parent.value } : {})
      })
    )
    batch.fiber = runFork(Effect.onExit(traced, (exit) => Effect.sync(() => settle(batch, exit))))
  }

  // The last caller gone: nobody wants the result, so stop the work (and cancel its query). The batch is closed
  // at once: a lookup arriving while the interruption is under way starts afresh instead of joining a batch that
  // can only end interrupted (which would answer a caller that did not cancel with CANCELLED).
  const leave = (batch: Batch) => {
    batch.waiters -= 1
    if (batch.waiters > 0 || batch.done) return
    close(batch)
    if (batch.fiber === undefined) {
      if (collecting === batch) collecting = undefined
      settle(batch, Exit.interrupt(FiberId.none))
    } else {
      batch.fiber.unsafeInterruptAsFork(FiberId.none)
    }
  }

  // Runs for every lookup: one async step, no Deferred or extra fiber per caller.
  const findById = (id: UserId): Effect.Effect<Option.Option<User>, StorageError> =>
    Effect.withFiberRuntime((fiber) => {
      let batch = inFlight.get(id)
      if (batch !== undefined) {
        coalescedLookups.unsafeUpdate(1, [])
      } else {
        if (collecting === undefined) {
          const parent = Context.getOption(fiber.currentContext, Tracer.ParentSpan)
          const fresh: Batch = { waiting: new Map(), waiters: 0, fiber: undefined, done: false, parent }
          collecting = fresh
          setImmediate(() => start(fresh))
        }
        batch = collecting
        batch.waiting.set(id, [])
        inFlight.set(id, batch)
      }
      const joined = batch
      const waiting = joined.waiting.get(id)
      if (waiting === undefined) return Effect.dieMessage("UserLoader: lost track of a pending id")
      joined.waiters += 1
      return Effect.async<Option.Option<User>, StorageError>((resume) => {
        // A caller that goes away (interrupted: client gone, deadline passed) ends its fiber: the observer sees it
        // and leaves the batch. An observer on the caller's fiber costs far less than an interruption handler
        // here, and it is removed when the answer comes, so a long-lived fiber does not collect them.
        const waiter: Waiter = {
          resume,
          fiber,
          gone: () => {
            const at = waiting.indexOf(waiter)
            if (at < 0) return
            waiting.splice(at, 1)
            leave(joined)
          }
        }
        waiting.push(waiter)
        fiber.addObserver(waiter.gone)
      })
    })

  return { findById } as const
})
