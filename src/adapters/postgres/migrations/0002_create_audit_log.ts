import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// The audit log of user changes (docs/extending.md). No foreign key: entries outlive the users they describe.
export default Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql`
    CREATE TABLE audit_log (
      id BIGSERIAL PRIMARY KEY,
      user_id BIGINT NOT NULL,
      action VARCHAR(16) NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
      at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX audit_log_user_id ON audit_log (user_id, id DESC);
  `
)
