import pg from "pg";
import type { Logger } from "pino";
import { isConnectionFailure } from "./postgres-connection.js";
import { migratePostgres } from "./postgres-migrations.js";
import type { Lease } from "./storage.js";

/** The channel of change wake-ups: its payload is empty, the changes are read from their tables. */
const CHANGES_CHANNEL = "liveops_changes";
/** The first key of leases' session advisory locks; the second is the name's hash ("ls"). */
const LEASES_CLASS = 0x6c73;
const CHECK_INTERVAL_MS = 1000;
/**
 * The server's side of this connection: if this process's machine vanishes without closing it, the server ends the
 * session, and frees the leases, after ~25 s instead of the system default of two hours — keepalives when it is idle,
 * and a timeout on unacknowledged data when it is not (notifications keep it busy, and keepalives only probe an idle
 * connection).
 */
const SERVER_SIDE =
  "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 -c tcp_user_timeout=25000";

/** A lease this session holds or seeks. */
interface SoughtLease {
  name: string;
  held: boolean;
  retryMs: number;
  onChange(held: boolean): void;
  /** Settles `Lease.tried`. */
  tried(): void;
}

/**
 * One storage's own connection to PostgreSQL, beside its pool: it migrates once the database answers, then every
 * second (or a lease's retry interval, when shorter) runs `SELECT 1`, so that a busy pool does not read as a database
 * that is down. The same connection LISTENs for other processes' change wake-ups and holds the leases (session
 * advisory locks): a lease lives exactly as long as the connection the database sees, so a process that loses the
 * database, or dies, loses its leases at once.
 */
export class PostgresSession {
  migrated = false;
  ready = false;
  private markMigrated: () => void = () => {};
  /** Resolves once the migrations are applied. */
  readonly migration = new Promise<void>((resolve) => {
    this.markMigrated = resolve;
  });
  private client: pg.Client | undefined;
  private connections = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastProblem: string | undefined;
  private readonly changeListeners = new Set<() => void>();
  private readonly leases = new Set<SoughtLease>();
  /** A lease was sought while a step ran: the next step runs at once after it. */
  private leaseSought = false;
  private notifying: Promise<void> | undefined;
  private notifyAgain = false;
  private notifyMissed = false;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
    /** Told each time the listening connection is made again after a failure (wake-ups may have been lost). */
    private readonly onReconnect: () => void = () => {},
  ) {}

  /** Runs a step now unless one is running (its answer is as fresh). */
  checkSoon(): void {
    if (this.stopped || this.running) return;
    clearTimeout(this.timer);
    this.running = this.step().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.leaseSought) {
        this.leaseSought = false;
        this.checkSoon();
        return;
      }
      this.timer = setTimeout(() => this.checkSoon(), this.interval());
      this.timer.unref();
    });
  }

  /** See Storage.onChangesCommitted. */
  onChangesCommitted(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * After a commit that logged changes: wakes this process's readers at once, and every other process listening
   * (one NOTIFY at a time; those asked for meanwhile are sent as one more).
   */
  changesCommitted(): void {
    for (const listener of this.changeListeners) listener();
    this.notifyChanges();
  }

  private notifyChanges(): void {
    if (this.notifying) {
      this.notifyAgain = true;
      return;
    }
    const client = this.client;
    if (!client || !this.ready) {
      // Sent once listening again: the others would otherwise wait for their next poll.
      this.notifyMissed = true;
      return;
    }
    this.notifying = client
      .query(`NOTIFY ${CHANGES_CHANNEL}`)
      .then(
        () => {},
        // The others read on their own timers: a lost wake-up only delays them.
        () => {},
      )
      .finally(() => {
        this.notifying = undefined;
        if (this.notifyAgain) {
          this.notifyAgain = false;
          this.notifyChanges();
        }
      });
  }

  /** See Storage.holdLease. */
  holdLease(name: string, options: { retryMs: number; onChange: (held: boolean) => void }): Lease {
    let tried = () => {};
    const firstTry = new Promise<void>((resolve) => {
      tried = resolve;
    });
    const lease: SoughtLease = { name, held: false, ...options, tried };
    this.leases.add(lease);
    if (this.running) this.leaseSought = true;
    else this.checkSoon();
    return {
      get held() {
        return lease.held;
      },
      tried: firstTry,
      release: async () => {
        this.leases.delete(lease);
        if (!lease.held) return;
        this.lose(lease);
        await this.client?.query("SELECT pg_advisory_unlock($1, hashtext($2))", [LEASES_CLASS, name]).catch(() => {});
      },
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await boundedWait(this.running ? [this.running] : [], this.timeoutMs * 2);
    this.ready = false;
    for (const lease of this.leases) this.lose(lease);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private interval(): number {
    let ms = CHECK_INTERVAL_MS;
    for (const lease of this.leases) if (!lease.held) ms = Math.min(ms, lease.retryMs);
    return ms;
  }

  private lose(lease: SoughtLease): void {
    if (!lease.held) return;
    lease.held = false;
    lease.onChange(false);
  }

  private async connect(): Promise<pg.Client> {
    const options = [this.config.options, SERVER_SIDE].filter(Boolean).join(" ");
    const client = new pg.Client({ ...this.config, query_timeout: this.timeoutMs, options });
    client.on("error", () => {
      // The connection broke: its leases are gone with it, at once; the next step connects again.
      if (this.client !== client) return;
      this.dropClient();
      this.checkSoon();
    });
    client.on("notification", () => {
      for (const listener of this.changeListeners) listener();
    });
    this.client = client;
    await client.connect();
    await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    this.connections++;
    if (this.connections > 1) {
      this.logger.info("listening for other instances' changes again");
      this.onReconnect();
      // Wake-ups sent while it was away are lost: the readers look for themselves.
      for (const listener of this.changeListeners) listener();
    }
    return client;
  }

  /** After a step that made the connection ready: the wake-up that could not be sent meanwhile. */
  private sendMissedNotify(): void {
    if (!this.notifyMissed) return;
    this.notifyMissed = false;
    this.notifyChanges();
  }

  private dropClient(): void {
    const client = this.client;
    this.client = undefined;
    this.ready = false;
    for (const lease of this.leases) this.lose(lease);
    void client?.end().catch(() => {});
  }

  private async step(): Promise<void> {
    try {
      if (!this.migrated) {
        // Without the pool's statement_timeout: a migration may take long, and so may waiting for another's lock.
        await migratePostgres(this.config, this.logger);
        this.migrated = true;
        this.markMigrated();
      }
      // Stopped while migrating: no new connection outlives the storage.
      if (this.stopped) return;
      const client = this.client ?? (await this.connect());
      if (this.stopped) {
        this.dropClient();
        return;
      }
      await client.query("SELECT 1");
      for (const lease of this.leases) {
        if (lease.held) continue;
        const { rows } = await client.query<{ held: boolean }>(
          "SELECT pg_try_advisory_lock($1, hashtext($2)) AS held",
          [LEASES_CLASS, lease.name],
        );
        if (rows[0]?.held) {
          if (this.leases.has(lease)) {
            lease.held = true;
            lease.onChange(true);
          } else {
            // Released while this try was on its way: the lock must not stay held by nobody.
            await client.query("SELECT pg_advisory_unlock($1, hashtext($2))", [LEASES_CLASS, lease.name]);
          }
        }
        lease.tried();
      }
      if (this.lastProblem !== undefined) this.logger.info("the database answers again");
      this.lastProblem = undefined;
      this.ready = !this.stopped;
      this.sendMissedNotify();
    } catch (err) {
      this.dropClient();
      this.report(err);
      // Tried, and failed: whoever waits learns that this process does not hold them.
      for (const lease of this.leases) lease.tried();
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

/** Waits for `promises` to settle, at most `ms`. */
export async function boundedWait(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}
