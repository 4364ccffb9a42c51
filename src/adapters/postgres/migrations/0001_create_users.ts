import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// The Go service's users table.
export default Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql`
    CREATE TABLE users (
      id BIGSERIAL PRIMARY KEY,
      name VARCHAR(25) NOT NULL,
      email VARCHAR(255) UNIQUE NOT NULL,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
  `
)
