// What following the change log costs each instance at a high rate of writes: scores logged directly into
// cluster_changes (as a writing instance logs them), at rates this 2-core machine cannot reach through the API.
// See bench/README.md, "Following at a high write rate".
import pg from "pg";
import type { PostgresServer } from "./postgres-server.js";
import { cpuSeconds, type Server, treeCpuSeconds, waitUntilIdle } from "./processes.js";

/** The following measurement at one rate with `instances` instances following (0: the writer alone). */
export interface FollowResult {
  instances: number;
  /** Asked for, and achieved (changes logged per second of the logging). */
  rate: number;
  achieved: number;
  /** Transactions logging them per second (each with its NOTIFY, as a writing instance sends one per commit). */
  commitsPerSecond: number;
  changes: number;
  /** CPU µs per change of every instance together, and of one instance. */
  instanceUs: number;
  instanceUsEach: number;
  /** CPU µs per change of PostgreSQL: everything, then minus the logging alone (measured with no instance). */
  postgresUs: number;
  postgresUsEach: number | undefined;
}

/** The change's body as SubmitScore logs it (a LoggedScore): run 1, one of 10,000 players, a new score. */
const BODY = `json_build_object('runNumber', 1, 'record', json_build_object(
  'playerId', 'follow-' || (g % 10000), 'score', g, 'subscore', 0, 'seq', g, 'submissions', 1,
  'metadata', NULL, 'updateTime', $1::bigint))::text`;

/**
 * Logs `rate` score changes a second for `seconds` into the log, in transactions of at most `perCommit` changes,
 * each with the wake-up (NOTIFY) a writing instance sends after its commit, from this process (its own core); measures the CPU
 * of the instances and of PostgreSQL from the first change until they are idle again.
 */
export async function measureFollowing(options: {
  postgres: PostgresServer;
  servers: Server[];
  eventId: string;
  rate: number;
  seconds: number;
  perCommit: number;
  /** PostgreSQL's CPU µs per change for the logging alone (the result with no instance), when known. */
  baselinePostgresUs?: number | undefined;
}): Promise<FollowResult> {
  const { postgres, servers, rate, seconds, perCommit } = options;
  const client = new pg.Client(postgres.url);
  await client.connect();
  try {
    // The commits' durability does not matter to the readers (they see a commit at once either way): without the
    // WAL flush, one connection logs fast enough.
    await client.query("SET synchronous_commit = off");
    // One statement, one transaction: the changes and the wake-up that goes out at commit.
    const log = {
      name: "bench-follow-log",
      text: `WITH logged AS (INSERT INTO cluster_changes (time, kind, subject, body)
          SELECT $1::bigint, 'score', $2::text, ${BODY} FROM generate_series($3::bigint, $4::bigint) g)
        SELECT pg_notify('liveops_changes', '')`,
    };
    const pids = () => servers.map((s) => s.child.pid ?? 0);
    const instanceBefore = cpuSeconds(pids());
    const postgresBefore = treeCpuSeconds(postgres.postmaster);
    const started = performance.now();
    let logged = 0;
    let commits = 0;
    for (;;) {
      const elapsed = (performance.now() - started) / 1000;
      if (elapsed >= seconds) break;
      const due = Math.min(perCommit, Math.floor(rate * elapsed) - logged);
      if (due < 1) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      await client.query({ ...log, values: [Date.now(), options.eventId, logged + 1, logged + due] });
      logged += due;
      commits++;
    }
    const loggingSeconds = (performance.now() - started) / 1000;
    await waitUntilIdle(() => [...pids(), ...postgres.pids()], 60_000);
    const instanceUs = ((cpuSeconds(pids()) - instanceBefore) / logged) * 1e6;
    const postgresUs = ((treeCpuSeconds(postgres.postmaster) - postgresBefore) / logged) * 1e6;
    const n = servers.length;
    const baseline = options.baselinePostgresUs;
    return {
      instances: n,
      rate,
      achieved: Math.round(logged / loggingSeconds),
      commitsPerSecond: Math.round(commits / loggingSeconds),
      changes: logged,
      instanceUs: Math.round(instanceUs),
      instanceUsEach: n === 0 ? 0 : Math.round(instanceUs / n),
      postgresUs: Math.round(postgresUs),
      postgresUsEach: n === 0 || baseline === undefined ? undefined : Math.round((postgresUs - baseline) / n),
    };
  } finally {
    await client.end();
  }
}
