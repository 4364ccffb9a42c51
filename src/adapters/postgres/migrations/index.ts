/**
 * Every migration, in id order: `[id, name, load]`, one line per file of this folder. `npm run
 * db:migrate:create <name>` writes the file and its line; a test checks that this list and the folder agree. A
 * list rather than a directory listing, so the migrations load the same from src/, dist/ and a bundle.
 */
export const migrations: ReadonlyArray<readonly [id: number, name: string, load: () => Promise<unknown>]> = [
  [1, "create_users", () => import("./0001_create_users.js")],
  [2, "create_audit_log", () => import("./0002_create_audit_log.js")],
  [3, "create_idempotency_keys", () => import("./0003_create_idempotency_keys.js")]
]
