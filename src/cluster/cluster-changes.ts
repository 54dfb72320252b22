import { sql } from "drizzle-orm";
import type { SqlClient, Transaction } from "../db/storage.js";

/** What a cluster change is about. Events and their runs have their own log (event_changes, WatchEvents). */
export type ClusterChangeKind = "key" | "score" | "grant" | "counter" | "audience" | "player_token_key";

/** One logged change, as readers get it: `body` is what its writer logged (JSON). */
export interface ClusterChange {
  kind: ClusterChangeKind;
  /** The key or event it concerns. */
  subject: string;
  body: unknown;
  /** When it was written (the writer's clock, milliseconds). */
  time: number;
}

/**
 * A reader's place in the log, opaque to it: on PostgreSQL the snapshot of its last read (`pg_snapshot` as text), on
 * SQLite the last id it read.
 */
export type ClusterCursor = string;

/** The outcome of reading after a cursor. */
export type ClusterChangesAfter =
  | { kind: "ok"; changes: ClusterChange[]; cursor: ClusterCursor }
  /**
   * More changes wait than one read takes: whatever was derived from the log must be read afresh, and reading goes
   * on from `cursor`, now.
   */
  | { kind: "behind"; cursor: ClusterCursor };

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

/** Rows deleted per pruning transaction: each is short, holding nothing up. */
const PRUNE_BATCH = 1000;

interface Row {
  id: number | null;
  time: number;
  kind: ClusterChangeKind;
  subject: string;
  body: string;
  snapshot: string | null;
}

function changeOf(row: Row): ClusterChange {
  return { kind: row.kind, subject: row.subject, body: JSON.parse(row.body), time: row.time };
}

/**
 * Reads of the log of changes other than events' (keys, scores and joins, grants, counters), which each change
 * appends in its own transaction, so that every liveops instance on the database can bring what it holds in memory
 * up to date.
 *
 * PostgreSQL: identity values are taken before commit, so a later id can commit first, and "every row above my last
 * id" could skip one. A reader instead keeps the snapshot of its last read and next reads the rows of the
 * transactions that snapshot did not see as committed (each row carries its transaction's id): exactly the
 * transactions committed in between, whatever their ids and whatever else is still running (the way PgQ reads its
 * queues). Nothing waits for unrelated long transactions; the order within one read is (txid, id), not commit order,
 * which the readers do not need (they apply whole states: a key changed, a player's entry).
 *
 * SQLite: one server writes and commits in turn, so ids are commit order and the cursor is the last id read.
 */
export function createClusterChanges(reads: SqlClient) {
  const postgres = reads.dialect === "postgres";

  /** PostgreSQL: the rows committed after `cursor`'s snapshot, and the snapshot of this read. */
  const readPostgres = (cursor: ClusterCursor, limit: number) =>
    reads.all<Row>(sql`
      SELECT c.id, c.time, c.kind, c.subject, c.body, p.snapshot
      FROM (SELECT pg_current_snapshot()::text AS snapshot) p
      LEFT JOIN (
        SELECT id, txid, time, kind, subject, body FROM cluster_changes
        WHERE txid >= (pg_snapshot_xmin(${cursor}::pg_snapshot)::text)::bigint
          AND NOT pg_visible_in_snapshot((txid::text)::xid8, ${cursor}::pg_snapshot)
        ORDER BY txid, id LIMIT ${limit + 1}
      ) c ON TRUE
      ORDER BY c.txid, c.id`);

  /** SQLite: the rows after id `cursor`. */
  const readSqlite = (cursor: ClusterCursor, limit: number) =>
    reads.all<Row>(sql`
      SELECT id, time, kind, subject, body, NULL AS snapshot FROM cluster_changes
      WHERE id > ${Number(cursor)} ORDER BY id LIMIT ${limit + 1}`);

  /** The place after every change committed now. */
  async function latest(): Promise<ClusterCursor> {
    const row = await reads.get<{ cursor: string | number | null }>(
      postgres
        ? sql`SELECT pg_current_snapshot()::text AS cursor`
        : sql`SELECT COALESCE(max(id), 0) AS cursor FROM cluster_changes`,
    );
    return String(row?.cursor ?? 0);
  }

  return {
    /** The place after every change committed now: where a reader starting with state read afresh begins. */
    latest,

    /** The changes committed after `cursor` (up to `limit`; more is `behind`), and the cursor after them. */
    async after(cursor: ClusterCursor, limit: number): Promise<ClusterChangesAfter> {
      const rows = await (postgres ? readPostgres(cursor, limit) : readSqlite(cursor, limit));
      const kept = rows.filter((row) => row.id !== null);
      const now = postgres ? (rows[0]?.snapshot ?? cursor) : String(kept.at(-1)?.id ?? cursor);
      if (kept.length > limit) return { kind: "behind", cursor: postgres ? now : await latest() };
      return { kind: "ok", changes: kept.map(changeOf), cursor: now };
    },

    /**
     * Deletes up to a batch of the changes written before `cutoff`, and returns how many; run again while it deletes a
     * full batch. Run by one instance at a time (the scheduler's). Readers away for longer than the changes are kept
     * read their state afresh (see change-follower.ts): nothing records what was deleted.
     */
    async prune(tx: Transaction, cutoff: number): Promise<number> {
      return tx.run(sql`
        DELETE FROM cluster_changes WHERE id IN (
          SELECT id FROM cluster_changes WHERE time < ${cutoff} ORDER BY id LIMIT ${PRUNE_BATCH})`);
    },
  };
}

/** The log of cluster changes. */
export type ClusterChanges = ReturnType<typeof createClusterChanges>;
