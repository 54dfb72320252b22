import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import type { Logger } from "pino";
import { migrationsFolder } from "./migrations-folder.js";
import { clientConfig } from "./postgres-connection.js";

/** Session advisory lock held while migrating, so that servers starting together migrate once ("lvops-mg"). */
const MIGRATION_LOCK_KEY = 0x6c766f70732d6d67n;

/**
 * Applies the pending migrations of drizzle/postgres/ on one dedicated connection that holds a session advisory lock
 * meanwhile, so that servers starting at once migrate exactly once (the others wait, then find nothing to do).
 */
export async function migratePostgres(
  connection: string | pg.ClientConfig,
  logger: Pick<Logger, "info" | "warn">,
): Promise<void> {
  const config = typeof connection === "string" ? clientConfig({ url: connection }) : connection;
  const client = new pg.Client(config);
  client.on("error", (err) => logger.warn({ err }, "the migration connection to the database failed"));
  try {
    await client.connect();
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
    try {
      const before = await appliedMigrations(client);
      await migrate(drizzle({ client }), { migrationsFolder: migrationsFolder("postgres") });
      const after = await appliedMigrations(client);
      if (after > before) logger.info({ applied: after - before, total: after }, "database migrations applied");
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()]).catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
}

async function appliedMigrations(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ present: boolean }>(
    "SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS present",
  );
  if (!rows[0]?.present) return 0;
  const counted = await client.query<{ count: number }>(
    "SELECT count(*)::int AS count FROM drizzle.__drizzle_migrations",
  );
  return counted.rows[0]?.count ?? 0;
}
