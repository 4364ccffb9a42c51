import { Effect, Exit, Layer, Option } from "effect"
import { EmailTaken, InvalidArgument } from "../../domain/errors.js"
import { Email, type NewUser, User, type UserId, UserName } from "../../domain/User.js"
import { UserRepository, type WriteOptions } from "../../ports/UserRepository.js"

/** The results of keyed writes of one kind, by idempotency key, with what each key was used for. */
type KeyStore<A> = Map<string, { readonly request: string; readonly result: A }>

/**
 * UserRepository in a Map: for unit tests and for running without a database. Each build starts empty.
 * Idempotency keys are kept for the life of the layer (no TTL).
 */
export const MemoryUserRepositoryLive = (seed: ReadonlyArray<{ readonly name: string; readonly email: string }> = []) =>
  Layer.sync(UserRepository, () => {
    const rows = new Map<UserId, User>()
    let nextId = 1n
    const emailTaken = (email: string, except?: UserId) =>
      [...rows.values()].some((user) => user.email === email && user.id !== except)
    const insertNow = (input: NewUser) => {
      const user = new User({ id: nextId++ as UserId, name: input.name, email: input.email })
      rows.set(user.id, user)
      return user
    }
    // Seed data is checked like any input.
    for (const user of seed) insertNow({ name: UserName.make(user.name), email: Email.make(user.email) })

    const inserted: KeyStore<User> = new Map()
    const updated: KeyStore<Option.Option<User>> = new Map()
    const deleted: KeyStore<boolean> = new Map()

    /** A write as the port describes it: at most once per key, and `settled` told how it ended. */
    const write = <A, E>(
      store: KeyStore<A>,
      request: unknown,
      options: WriteOptions<A> | undefined,
      apply: () => Effect.Effect<A, E>
    ): Effect.Effect<A, E | InvalidArgument> =>
      Effect.suspend(() => {
        const key = options?.idempotencyKey
        const described = JSON.stringify(request, (_, value) => (typeof value === "bigint" ? String(value) : value))
        const known = key === undefined ? undefined : store.get(key)
        const run: Effect.Effect<A, E | InvalidArgument> =
          known === undefined
            ? Effect.tap(apply(), (result) => {
                if (key !== undefined) store.set(key, { request: described, result })
              })
            : known.request === described
              ? Effect.succeed(known.result)
              : Effect.fail(
                  new InvalidArgument({ field: "idempotency_key", reason: "was already used for a different request" })
                )
        const settled = options?.settled
        return settled === undefined
          ? run
          : Effect.onExit(run, (exit) =>
              settled(Exit.isSuccess(exit) ? { _tag: "Applied", value: exit.value } : { _tag: "NotApplied" })
            )
      })

    return UserRepository.of({
      findById: (id) =>
        Effect.sync(() => Option.fromNullable(rows.get(id))).pipe(Effect.withSpan("UserRepository.findById")),
      findByIds: (ids) =>
        Effect.sync(() => ids.flatMap((id) => rows.get(id) ?? [])).pipe(Effect.withSpan("UserRepository.findByIds")),
      list: ({ afterId, limit }) =>
        Effect.sync(() =>
          [...rows.values()]
            .filter((user) => afterId === undefined || user.id > afterId)
            .sort((a, b) => (a.id < b.id ? -1 : 1))
            .slice(0, limit)
        ).pipe(Effect.withSpan("UserRepository.list")),
      insert: (input, options) =>
        write(inserted, input, options, () =>
          emailTaken(input.email)
            ? Effect.fail(new EmailTaken({ email: input.email }))
            : Effect.succeed(insertNow(input))
        ).pipe(Effect.withSpan("UserRepository.insert")),
      update: (id, patch, options) =>
        write(updated, { id, ...patch }, options, () => {
          const current = rows.get(id)
          if (current === undefined) return Effect.succeed(Option.none())
          if (patch.email !== undefined && emailTaken(patch.email, id))
            return Effect.fail(new EmailTaken({ email: patch.email }))
          const user = new User({ id, name: patch.name ?? current.name, email: patch.email ?? current.email })
          rows.set(id, user)
          return Effect.succeed(Option.some(user))
        }).pipe(Effect.withSpan("UserRepository.update")),
      delete: (id, options) =>
        write(deleted, { id }, options, () => Effect.sync(() => rows.delete(id))).pipe(
          Effect.withSpan("UserRepository.delete")
        )
    })
  })
