import { InvalidArgument } from "../../domain/errors.js"

// A request that does not decode is the caller's fault: an InvalidArgument naming the field, in the doors' one error
// shape, and never an echo of more than 64 characters of what the caller sent (an error must not amplify input).

const ECHO_LIMIT = 64

/** At most 64 characters of caller input. */
export const bounded = (text: string) => (text.length > ECHO_LIMIT ? `${text.slice(0, ECHO_LIMIT)}…` : text)

/** One decode issue (Effect Schema's ArrayFormatter shape, as HttpApiDecodeError carries them). */
export interface DecodeIssue {
  readonly _tag: string
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

const fieldOf = (path: ReadonlyArray<PropertyKey>) =>
  path.length === 0
    ? "body"
    : bounded(path.map((key) => (typeof key === "number" ? `[${key}]` : String(key))).join("."))

const reasonOf = (issue: DecodeIssue) => {
  switch (issue._tag) {
    case "Missing":
      return "is required"
    case "Unexpected":
      return "is not a field of this request"
    default: {
      // "Expected string, actual [...]": the schema's expectation, never the actual value.
      const expected = /^Expected ([^,\n]{1,60}), actual/.exec(issue.message)?.[1]
      return expected === undefined ? "is invalid" : `must be ${expected}`
    }
  }
}

/** The first issue as an InvalidArgument naming its field (the others are usually consequences of it). */
export const invalidArgumentOf = (issues: ReadonlyArray<DecodeIssue>): InvalidArgument => {
  const [first] = issues
  return first === undefined
    ? new InvalidArgument({ field: "body", reason: "is invalid" })
    : new InvalidArgument({ field: fieldOf(first.path), reason: reasonOf(first) })
}

/**
 * A Schema decode message (TreeFormatter's) with every echoed value cut to 64 characters and the whole bounded to
 * 1 KiB: for protocols that report decode failures as text (@effect/rpc).
 */
export const boundedDecodeMessage = (message: string) =>
  message
    .split("\n")
    .slice(0, 12)
    .map((line) =>
      line.replace(/(actual |is unexpected, expected: )(.*)$/, (_, lead: string, rest: string) => lead + bounded(rest))
    )
    // Any other quoted input ("Unable to decode \"…\""): at most 64 characters too.
    .map((line) =>
      line.replace(/"((?:[^"\\]|\\.)*)"/g, (quoted: string, inner: string) =>
        inner.length > ECHO_LIMIT ? `"${bounded(inner)}"` : quoted
      )
    )
    .map((line) => (line.length > 160 ? `${line.slice(0, 160)}…` : line))
    .join("\n")
    .slice(0, 1024)
