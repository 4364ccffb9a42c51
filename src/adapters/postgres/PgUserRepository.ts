import { createHash } from "node:crypto"
import { SqlClient, SqlError } from "@effect/sql"
import { Config, Duration, Effect, Layer, Option, Schema } from "effect"
import { EmailTaken, InvalidArgument } from "../../domain/errors.js"
import type { IdempotencyKey } from "../../domain/Idempotency.js"
import { User, type UserId } from "../../domain/User.js"
import { UserRepository, type WriteEnd, type WriteOptions } from "../../ports/UserRepository.js"
import { duration } from "../config/Settings.js"
import { PgGuard, toDomainError, toWriteError } from "./PgGuard.js"
import { timedQuery } from "./PgMetrics.js"

// node-postgres returns BIGINT as a string: decode it into an exact bigint, never a lossy number.
const UserRow = Schema.compose(Schema.Struct({ id: Schema.BigInt, name: Schema.String, email: Schema.String }), User)
const decodeRows = Schema.decodeUnknown(Schema.Array(UserRow))

/** How a write's result is kept with its idempotency key (JSON text) and read back for a retry. */
interface ResultCodec<A> {
  readonly encode: (value: A) => unknown
  readonly decode: (json: unknown) => Effect.Effect<A, unknown>
}
const userJson = (user: User) => ({ id: String(user.id), name: user.name, email: user.email })
const decodeUser = Schema.decodeUnknown(UserRow)
const UserCodec: ResultCodec<User> = { encode: userJson, decode: decodeUser }
const MaybeUserCodec: ResultCodec<Option.Option<User>> = {
  encode: (user) => Option.match(user, { onNone: () => null, onSome: userJson }),
  decode: (json) => (json === null ? Effect.succeed(Option.none()) : Effect.map(decodeUser(json), Option.some))
}
const BooleanCodec: ResultCodec<boolean> = { encode: (value) => value, decode: Schema.decodeUnknown(Schema.Boolean) }

/** A keyed write as the transaction saw it: applied now, the result of an earlier one, or the key in other use. */
type Keyed<A> =
  | { readonly _tag: "Fresh"; readonly value: A }
  | { readonly _tag: "Replayed"; readonly value: A }
  | { readonly _tag: "Mismatch" }

export interface PgUserRepositoryOptions {
  /** How long an idempotency key and its result are kept (IDEMPOTENCY_KEY_TTL). */
  readonly idempotencyKeyTtl: Duration.Duration
}

/** How often expired idempotency keys are deleted, and at most how many at a time. */
const KEY_SWEEP_EVERY = Duration.minutes(10)
const KEY_SWEEP_BATCH = 10_000

/**
 * UserRepository on Postgres. Every statement goes through the PgGuard (a time bound, the circuit breaker that
 * counts only the database's faults, read retries); a unique violation on the email is EmailTaken, and every other
 * failure is the guard's classification (PgGuard.ts) as a domain error. A write with an idempotency key runs in one
 * transaction with its key (table `idempotency_keys`, migration 0003): a retry finds the key and gets the result.
 */
export const PgUserRepositoryLive = (options: PgUserRepositoryOptions) =>
  Layer.scoped(
    UserRepository,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const guard = yield* PgGuard
      const ttlMs = Math.max(1, Math.round(Duration.toMillis(options.idempotencyKeyTtl)))

      // Rows that do not decode mean the schema and the code disagree: a defect, not a client error.
      const users = (rows: ReadonlyArray<unknown>) => decodeRows(rows).pipe(Effect.orDie)

      const read = <A>(operation: string, statement: Effect.Effect<A, SqlError.SqlError>) =>
        guard.run(operation, timedQuery(operation)(statement), { read: true }).pipe(Effect.mapError(toDomainError))

      /**
       * The key's transaction: claim the key (or find it), apply the change and keep its result with the key. A
       * concurrent retry with the same key waits on the claim's row lock and then finds the result.
       */
      const keyed = <A>(
        key: IdempotencyKey,
        fingerprint: string,
        codec: ResultCodec<A>,
        change: Effect.Effect<A, SqlError.SqlError>
      ): Effect.Effect<Keyed<A>, SqlError.SqlError> =>
        sql
          .withTransaction(
            Effect.gen(function* () {
              const claimed = yield* sql`
              INSERT INTO idempotency_keys (key, fingerprint, expires_at)
              VALUES (${key}, ${fingerprint}, now() + ${ttlMs} * interval '1 millisecond')
              ON CONFLICT (key) DO UPDATE
                SET fingerprint = EXCLUDED.fingerprint, result = NULL, expires_at = EXCLUDED.expires_at
                WHERE idempotency_keys.expires_at < now()
              RETURNING key`
              if (claimed.length === 0) {
                const [row] = yield* sql<{
                  readonly fingerprint: string
                  readonly result: string | null
                }>`SELECT fingerprint, result FROM idempotency_keys WHERE key = ${key}`
                if (row === undefined || row.fingerprint !== fingerprint || row.result === null)
                  return { _tag: "Mismatch" } as const
                const value = yield* Effect.orDie(codec.decode(JSON.parse(row.result)))
                return { _tag: "Replayed", value } as const
              }
              const value = yield* change
              yield* sql`UPDATE idempotency_keys SET result = ${JSON.stringify(codec.encode(value))} WHERE key = ${key}`
              return { _tag: "Fresh", value } as const
            })
          )
          .pipe(
            // @effect/sql turns a failed COMMIT or ROLLBACK into a defect; a lost connection there is a failure like
            // any other (and at COMMIT, exactly the write whose outcome is unknown).
            Effect.catchSomeDefect((defect) =>
              defect instanceof SqlError.SqlError ? Option.some(Effect.fail(defect)) : Option.none()
            )
          )

      /**
       * A write: never retried here, never cancelled once sent (the guard), and `settled` told how it ended. With
       * an idempotency key it runs in the key's transaction. A conflict on the email is EmailTaken.
       */
      const write = <A>(
        operation: string,
        change: Effect.Effect<A, SqlError.SqlError>,
        request: unknown,
        codec: ResultCodec<A>,
        writeOptions: WriteOptions<A> | undefined,
        email?: string
      ) => {
        const key = writeOptions?.idempotencyKey
        const settled = writeOptions?.settled
        const toEnd = (end: WriteEnd<Keyed<A>>): WriteEnd<A> =>
          end._tag !== "Applied"
            ? end
            : end.value._tag === "Mismatch"
              ? { _tag: "NotApplied" }
              : { _tag: "Applied", value: end.value.value }
        const statement: Effect.Effect<Keyed<A>, SqlError.SqlError> = key === undefined
          ? Effect.map(change, (value) => ({ _tag: "Fresh", value }) as const)
          : keyed(key, fingerprintOf(operation, request), codec, change)
        return guard
          .run(operation, timedQuery(operation)(statement), {
            settled: settled === undefined ? undefined : (end) => settled(toEnd(end))
          })
          .pipe(
            Effect.mapError((failure) =>
              failure._tag === "PgFailure" && failure.kind === "conflict" && email !== undefined
                ? new EmailTaken({ email })
                : toWriteError(failure)
            ),
            Effect.flatMap((result) =>
              result._tag === "Mismatch"
                ? Effect.fail(
                    new InvalidArgument({
                      field: "idempotency_key",
                      reason: "was already used for a different request"
                    })
                  )
                : Effect.succeed(result.value)
            )
          )
      }

      const oneUser = (rows: ReadonlyArray<unknown>) =>
        Effect.flatMap(users(rows), ([user]) =>
          user === undefined ? Effect.dieMessage("no row returned") : Effect.succeed(user)
        )

      // Expired keys go in the background, a batch at a time (a key found expired is also taken over at once).
      yield* guard
        .run(
          "sweepIdempotencyKeys",
          sql`DELETE FROM idempotency_keys WHERE key IN (
                SELECT key FROM idempotency_keys WHERE expires_at < now() LIMIT ${KEY_SWEEP_BATCH})`
        )
        .pipe(Effect.ignore, Effect.delay(KEY_SWEEP_EVERY), Effect.forever, Effect.forkScoped)

      return UserRepository.of({
        findById: Effect.fn("UserRepository.findById")(function* (id: UserId) {
          const rows = yield* read("findById", sql`SELECT id, name, email FROM users WHERE id = ${id}`)
          return Option.fromNullable((yield* users(rows))[0])
        }),
        findByIds: Effect.fn("UserRepository.findByIds")(function* (ids: ReadonlyArray<UserId>) {
          yield* Effect.annotateCurrentSpan("user.ids", ids.length)
          return yield* users(yield* read("findByIds", sql`SELECT id, name, email FROM users WHERE id = ANY(${ids})`))
        }),
        list: Effect.fn("UserRepository.list")(function* ({ afterId, limit }) {
          const rows = yield* read(
            "list",
            sql`SELECT id, name, email FROM users WHERE id > ${afterId ?? 0n} ORDER BY id LIMIT ${limit}`
          )
          return yield* users(rows)
        }),
        insert: Effect.fn("UserRepository.insert")(function* (input, writeOptions) {
          return yield* write(
            "insert",
            Effect.flatMap(
              sql`INSERT INTO users (name, email) VALUES (${input.name}, ${input.email}) RETURNING id, name, email`,
              oneUser
            ),
            input,
            UserCodec,
            writeOptions,
            input.email
          )
        }),
        update: Effect.fn("UserRepository.update")(function* (id, patch, writeOptions) {
          return yield* write(
            "update",
            Effect.flatMap(
              sql`
                UPDATE users
                SET name = COALESCE(${patch.name ?? null}, name),
                    email = COALESCE(${patch.email ?? null}, email),
                    updated_at = now()
                WHERE id = ${id}
                RETURNING id, name, email`,
              (rows) => Effect.map(users(rows), (found) => Option.fromNullable(found[0]))
            ),
            { id: String(id), name: patch.name ?? null, email: patch.email ?? null },
            MaybeUserCodec,
            writeOptions,
            patch.email
          )
        }),
        delete: Effect.fn("UserRepository.delete")(function* (id, writeOptions) {
          return yield* write(
            "delete",
            Effect.map(sql`DELETE FROM users WHERE id = ${id} RETURNING id`, (rows) => rows.length > 0),
            { id: String(id) },
            BooleanCodec,
            writeOptions
          ).pipe(Effect.catchTag("EmailTaken", (error) => Effect.die(error)))
        })
      })
    })
  )

/** What a key is bound to: the operation and its request, so the same key with another request is refused. */
const fingerprintOf = (operation: string, request: unknown): string =>
  createHash("sha256")
    .update(`${operation}\u0000${JSON.stringify(request)}`)
    .digest("base64url")

export const config = Config.all({
  idempotencyKeyTtl: duration("IDEMPOTENCY_KEY_TTL").pipe(Config.withDefault(Duration.hours(24)))
})

export const layerConfig = Layer.unwrapEffect(Effect.map(config, PgUserRepositoryLive))
