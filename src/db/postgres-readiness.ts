import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import type { Logger } from "pino";
import { migrationsFolder } from "./migrations-folder.js";
import { clientConfig, isConnectionFailure } from "./postgres-connection.js";

/** Session advisory lock held while migrating, so that servers starting together migrate once ("lvops-mg"). */
const MIGRATION_LOCK_KEY = 0x6c766f70732d6d67n;
const CHECK_INTERVAL_MS = 1000;

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

export /**
 * The background task of one storage: migrates once the database answers, then runs `SELECT 1` every second (and
 * soon after any unavailable error) on a connection of its own, so a busy pool does not read as a database that is
 * down. Logs once per outage.
 */
class HealthCheck {
  migrated = false;
  private markMigrated: () => void = () => {};
  /** Resolves once the migrations are applied. */
  readonly migration = new Promise<void>((resolve) => {
    this.markMigrated = resolve;
  });
  ready = false;
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastProblem: string | undefined;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /** Runs a step now unless one is running (its answer is as fresh). */
  checkSoon(): void {
    if (this.stopped || this.running) return;
    clearTimeout(this.timer);
    this.running = this.step().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      this.timer = setTimeout(() => this.checkSoon(), CHECK_INTERVAL_MS);
      this.timer.unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await boundedWait(this.running ? [this.running] : [], this.timeoutMs * 2);
    this.ready = false;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async step(): Promise<void> {
    try {
      if (!this.migrated) {
        // Without the pool's statement_timeout: a migration may take long, and so may waiting for another's lock.
        await migratePostgres(this.config, this.logger);
        this.migrated = true;
        this.markMigrated();
      }
      if (!this.client) {
        // Stopped while migrating: no new connection outlives the storage.
        if (this.stopped) return;
        const client = new pg.Client({ ...this.config, query_timeout: this.timeoutMs });
        // Its next query fails and replaces it; nothing to do here but not crash.
        client.on("error", () => {});
        this.client = client;
        await client.connect();
        if (this.stopped) {
          this.client = undefined;
          await client.end().catch(() => {});
          return;
        }
      }
      await this.client.query("SELECT 1");
      if (this.lastProblem !== undefined) this.logger.info("the database answers again");
      this.lastProblem = undefined;
      this.ready = !this.stopped;
    } catch (err) {
      this.ready = false;
      const client = this.client;
      this.client = undefined;
      void client?.end().catch(() => {});
      this.report(err);
    }
  }

  private report(err: unknown): void {
    const unavailable = isConnectionFailure(err);
    const problem = unavailable ? "unavailable" : String((err as Error)?.message);
    if (problem === this.lastProblem) return;
    this.lastProblem = problem;
    const stage = this.migrated ? "" : "; migrations wait for it";
    if (unavailable) this.logger.warn({ err }, `the database is not reachable${stage}; checking every second`);
    else this.logger.error({ err }, `the database check or its migrations failed${stage}; retrying every second`);
  }
}

export /** Waits for `promises` to settle, at most `ms`. */
async function boundedWait(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}
