import { type SQL, sql } from "drizzle-orm";
import { flag, type SqlClient, type Transaction } from "../db/storage.js";

/** What a cluster change is about. Events and their runs have their own log (event_changes, WatchEvents). */
export type ClusterChangeKind = "key" | "score" | "grant" | "counter";

/** One logged change, as readers get it: `body` is what its writer logged (JSON). */
export interface ClusterChange {
  kind: ClusterChangeKind;
  /** The key or event it concerns. */
  subject: string;
  body: unknown;
  /** When it was written (the writer's clock, milliseconds). */
  time: number;
}

/** A reader's place in the log: after the change (txid, id). */
export interface ClusterCursor {
  txid: number;
  id: number;
}

/** The outcome of reading after a cursor. */
export type ClusterChangesAfter =
  | {
      kind: "ok";
      changes: ClusterChange[];
      cursor: ClusterCursor;
      /**
       * Committed changes after these wait for an older transaction, still running, to end (PostgreSQL; see
       * createClusterChanges): read again soon, as that transaction may commit without waking anyone.
       */
      held: boolean;
    }
  /** Some changes after the cursor are no longer kept: whatever was derived from the log must be read afresh. */
  | { kind: "pruned"; cursor: ClusterCursor };

/** Logs a change in the transaction that makes it; the logs' readers are woken after the commit. */
export async function appendClusterChange(
  tx: Transaction,
  kind: ClusterChangeKind,
  subject: string,
  body: unknown,
  at: number,
): Promise<void> {
  await tx.run(sql`
    INSERT INTO cluster_changes (time, kind, subject, body) VALUES (${at}, ${kind}, ${subject}, ${JSON.stringify(body)})`);
  tx.logged();
}

/** The setting that holds the cursor below which changes were pruned ("txid:id"). */
const PRUNED_THROUGH = "cluster_changes_pruned_through";

function cursorOf(value: string | null | undefined): ClusterCursor {
  const [txid = 0, id = 0] = (value ?? "0:0").split(":").map(Number);
  return { txid, id };
}

function before(a: ClusterCursor, b: ClusterCursor): boolean {
  return a.txid < b.txid || (a.txid === b.txid && a.id < b.id);
}

/**
 * Reads of the log of changes other than events' (keys, scores and joins, grants, counters), appended in the transaction of
 * each change, so that every liveops instance on the database can bring what it holds in memory up to date.
 *
 * Order: on PostgreSQL an identity value is taken before its transaction commits, so a later id can commit first and
 * "every row above my cursor" could skip one. Each row carries its transaction's id; readers take only rows of
 * transactions older than every transaction still running (`pg_snapshot_xmin` of the reading statement's snapshot),
 * ordered by (txid, id): no row can later appear below what they have read. A change is thus read once every
 * transaction that started before it has ended. On SQLite one server writes, committing in turn: (0, id).
 */
export function createClusterChanges(reads: SqlClient) {
  const postgres = reads.dialect === "postgres";
  const horizon = sql`(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint`;
  /** On PostgreSQL, rows of transactions that have all ended (see above). */
  const settled: SQL = postgres ? sql`AND txid < ${horizon}` : sql.empty();
  /** Whether committed rows after `cursor` wait for an older transaction still running. */
  const heldAfter = (cursor: ClusterCursor): SQL =>
    postgres
      ? sql`EXISTS (SELECT 1 FROM cluster_changes WHERE (txid, id) > (${cursor.txid}, ${cursor.id}) AND txid >= ${horizon})`
      : sql`FALSE`;

  return {
    /** The place after every change that can be read now: where a reader starting with fresh state begins. */
    async latest(): Promise<ClusterCursor> {
      const row = await reads.get<ClusterCursor>(sql`
        SELECT txid, id FROM cluster_changes WHERE TRUE ${settled} ORDER BY txid DESC, id DESC LIMIT 1`);
      return row ?? { txid: 0, id: 0 };
    },

    /** Up to `limit` changes after `cursor`, in order; `pruned` when some after it are no longer kept. */
    async after(cursor: ClusterCursor, limit: number): Promise<ClusterChangesAfter> {
      // One statement, so one snapshot: the pruning mark and the rows agree.
      const rows = await reads.all<{
        txid: number | null;
        id: number | null;
        time: number;
        kind: ClusterChangeKind;
        subject: string;
        body: string;
        prunedThrough: string | null;
        held: unknown;
      }>(sql`
        SELECT c.txid, c.id, c.time, c.kind, c.subject, c.body, p.pruned AS "prunedThrough", p.held
        FROM (SELECT (SELECT value FROM settings WHERE name = ${PRUNED_THROUGH}) AS pruned,
          ${heldAfter(cursor)} AS held) p
        LEFT JOIN (
          SELECT txid, id, time, kind, subject, body FROM cluster_changes
          WHERE (txid, id) > (${cursor.txid}, ${cursor.id}) ${settled}
          ORDER BY txid, id LIMIT ${limit}
        ) c ON TRUE
        ORDER BY c.txid, c.id`);
      const prunedThrough = cursorOf(rows[0]?.prunedThrough);
      if (before(cursor, prunedThrough)) return { kind: "pruned", cursor: prunedThrough };
      let next = cursor;
      const changes: ClusterChange[] = [];
      for (const row of rows) {
        if (row.txid === null || row.id === null) continue;
        next = { txid: row.txid, id: row.id };
        changes.push({ kind: row.kind, subject: row.subject, body: JSON.parse(row.body), time: row.time });
      }
      return { kind: "ok", changes, cursor: next, held: flag(rows[0]?.held) };
    },

    /**
     * Deletes the changes written before `cutoff`, recording the place below which nothing is kept. A reader that was
     * further behind learns it (`pruned`). Run by one instance at a time (the scheduler's).
     */
    async prune(tx: Transaction, cutoff: number): Promise<number> {
      const last = await tx.get<ClusterCursor>(sql`
        SELECT txid, id FROM cluster_changes WHERE time < ${cutoff} ${settled} ORDER BY txid DESC, id DESC LIMIT 1`);
      if (!last) return 0;
      const deleted = await tx.run(sql`DELETE FROM cluster_changes WHERE (txid, id) <= (${last.txid}, ${last.id})`);
      await tx.run(sql`INSERT INTO settings (name, value) VALUES (${PRUNED_THROUGH}, ${`${last.txid}:${last.id}`})
        ON CONFLICT (name) DO UPDATE SET value = excluded.value`);
      return deleted;
    },
  };
}

/** The log of cluster changes. */
export type ClusterChanges = ReturnType<typeof createClusterChanges>;
