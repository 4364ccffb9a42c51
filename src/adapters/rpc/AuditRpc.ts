import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"
import { AuditAction } from "../../ports/AuditLog.js"
import { ClientDefect, UsersRpcEdge, UsersRpcError } from "./UsersRpc.js"

/** An audit entry on the wire: `at` is an ISO 8601 string. */
export const AuditEntryWire = Schema.Struct({ user_id: Schema.BigInt, action: AuditAction, at: Schema.Date })

/** The audit log example's RPC (docs/extending.md), under the same edge policy as the user calls. */
export class AuditRpcs extends RpcGroup.make(
  Rpc.make("ListAuditEntries", {
    payload: { user_id: Schema.BigInt, limit: Schema.Number },
    success: Schema.Array(AuditEntryWire),
    error: UsersRpcError,
    defect: ClientDefect
  })
).middleware(UsersRpcEdge) {}
