import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// Idempotency keys (docs/resilience.md, "Writes and retries"): each key with a fingerprint of its request and the
// result of the write, stored in the write's own transaction, kept until expires_at. The audit log records a
// keyed write once, however often it is retried.
export default Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql`
    CREATE TABLE idempotency_keys (
      key VARCHAR(255) PRIMARY KEY,
      fingerprint TEXT NOT NULL,
      result TEXT,
      expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
    ALTER TABLE audit_log ADD COLUMN idempotency_key VARCHAR(255);
    CREATE UNIQUE INDEX audit_log_idempotency_key ON audit_log (idempotency_key, action)
      WHERE idempotency_key IS NOT NULL;
  `
)
