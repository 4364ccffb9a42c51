import { randomUUID } from "node:crypto"

const REQUEST_ID = /^[\w.:-]{1,128}$/

/**
 * A call's request id: the caller's `x-request-id` (gRPC metadata or HTTP header) when it is a sane token, else a new
 * one. Every door uses this, so logs and responses carry ids of one shape.
 */
export const requestIdOr = (value: unknown): string =>
  typeof value === "string" && REQUEST_ID.test(value) ? value : randomUUID()
