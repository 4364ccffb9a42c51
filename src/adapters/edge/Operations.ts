/**
 * Every operation the service serves, with its policy, declared once: each door (gRPC, REST, /rpc) names the
 * operation it runs and the edge pipeline (Pipeline.ts) applies its row. A new RPC is one row here, one use case
 * and one handler per door; a handler naming an operation missing here does not compile (gRPC, /rpc) or stops the
 * start (REST).
 */
export interface OperationPolicy {
  /** Changes data: with authentication on, the call needs the write scope (AUTH_WRITE_SCOPE). */
  readonly writes: boolean
}

export const OPERATIONS = {
  SayHello: { writes: false },
  GetUser: { writes: false },
  ListUsers: { writes: false },
  CreateUser: { writes: true },
  UpdateUser: { writes: true },
  DeleteUser: { writes: true },
  ListAuditEntries: { writes: false }
} as const satisfies Record<string, OperationPolicy>

export type Operation = keyof typeof OPERATIONS

export const isOperation = (name: string): name is Operation => Object.hasOwn(OPERATIONS, name)
