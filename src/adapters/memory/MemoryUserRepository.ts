import { Effect, Layer, Option } from "effect"
import { EmailTaken } from "../../domain/errors.js"
import { User, type UserId } from "../../domain/User.js"
import { UserRepository } from "../../ports/UserRepository.js"

/** UserRepository in a Map: for unit tests and for running without a database. Each build starts empty. */
export const MemoryUserRepositoryLive = (seed: ReadonlyArray<{ readonly name: string; readonly email: string }> = []) =>
  Layer.sync(UserRepository, () => {
    const rows = new Map<UserId, User>()
    let nextId = 1n
    const emailTaken = (email: string, except?: UserId) =>
      [...rows.values()].some((user) => user.email === email && user.id !== except)
    const insertNow = (input: { readonly name: string; readonly email: string }) => {
      const user = new User({ id: nextId++ as UserId, name: input.name, email: input.email })
      rows.set(user.id, user)
      return user
    }
    for (const user of seed) insertNow(user)

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
      insert: (input) =>
        Effect.suspend(() =>
          emailTaken(input.email)
            ? Effect.fail(new EmailTaken({ email: input.email }))
            : Effect.succeed(insertNow(input))
        ).pipe(Effect.withSpan("UserRepository.insert")),
      update: (id, patch) =>
        Effect.suspend(() => {
          const current = rows.get(id)
          if (current === undefined) return Effect.succeed(Option.none())
          if (patch.email !== undefined && emailTaken(patch.email, id))
            return Effect.fail(new EmailTaken({ email: patch.email }))
          const updated = new User({ id, name: patch.name ?? current.name, email: patch.email ?? current.email })
          rows.set(id, updated)
          return Effect.succeed(Option.some(updated))
        }).pipe(Effect.withSpan("UserRepository.update")),
      delete: (id) => Effect.sync(() => rows.delete(id)).pipe(Effect.withSpan("UserRepository.delete"))
    })
  })
