import { type SQL, sql } from "drizzle-orm";
import { appendClusterChange } from "../cluster/cluster-changes.js";
import type { SqlClient, Transaction } from "../db/storage.js";

/** A reward grant as stored. */
export interface GrantRow {
  id: string;
  eventId: string;
  runNumber: number;
  playerId: string;
  rank: number;
  /** JSON of the rewards (see reward-codec.ts). */
  rewards: string;
  grantTime: number;
  claimTime: number | null;
}

/** Which grants to list: at least a player or an event; a run only with its event. */
export interface GrantFilter {
  playerId?: string | undefined;
  eventId?: string | undefined;
  runNumber?: number | undefined;
}

/** What a finalized run came to. */
export interface RunOutcome {
  /** Players with an entry (joined or scored). */
  participants: number;
  /** Players with a final rank (a score). */
  ranked: number;
  /** Reward grants made: one per prized player. */
  grants: number;
}

/** A position in a list of grants, newest first. */
export interface GrantCursor {
  grantTime: number;
  id: string;
}

const GRANT_COLUMNS = sql.raw(`id, event_id AS "eventId", run_number AS "runNumber", player_id AS "playerId", rank,
  rewards, grant_time AS "grantTime", claim_time AS "claimTime"`);

/** Queries of reward grants (they are written where runs are finalized: score-store.ts). */
export function createGrantStore(reads: SqlClient) {
  return {
    /**
     * Up to `limit` grants after `after`, newest first, of a player, of an event (or one of its runs), or both: one
     * query.
     */
    listGrants(filter: GrantFilter, after: GrantCursor | undefined, limit: number): Promise<GrantRow[]> {
      const conditions: SQL[] = [];
      if (filter.playerId !== undefined) conditions.push(sql`player_id = ${filter.playerId}`);
      if (filter.eventId !== undefined) conditions.push(sql`event_id = ${filter.eventId}`);
      if (filter.runNumber !== undefined) conditions.push(sql`run_number = ${filter.runNumber}`);
      if (after) {
        conditions.push(
          sql`(grant_time < ${after.grantTime} OR (grant_time = ${after.grantTime} AND id < ${after.id}))`,
        );
      }
      if (conditions.length === 0) throw new Error("grants are listed by player or by event");
      return reads.all<GrantRow>(sql`
        SELECT ${GRANT_COLUMNS} FROM reward_grants WHERE ${sql.join(conditions, sql` AND `)}
        ORDER BY grant_time DESC, id DESC LIMIT ${limit}`);
    },

    /** The grant `id`, if any, read through `client`. */
    findGrant(client: SqlClient, id: string): Promise<GrantRow | undefined> {
      return client.get<GrantRow>(sql`SELECT ${GRANT_COLUMNS} FROM reward_grants WHERE id = ${id}`);
    },

    /**
     * Claims a grant inside `tx`: the first claim sets its claim time (one conditional UPDATE, which concurrent
     * claims take in turn), and every claim gets the grant as it is then, with `first` true for the claim that set
     * it (undefined when there is no such grant).
     */
    async claimGrant(
      tx: Transaction,
      id: string,
      now: number,
    ): Promise<{ grant: GrantRow; first: boolean } | undefined> {
      const claimed = await tx.get<GrantRow>(sql`
        UPDATE reward_grants SET claim_time = ${now} WHERE id = ${id} AND claim_time IS NULL
        RETURNING ${GRANT_COLUMNS}`);
      if (claimed) {
        await appendClusterChange(tx, "grant", claimed.eventId, { grantId: id, claimed: true }, now);
        return { grant: claimed, first: true };
      }
      const grant = await tx.get<GrantRow>(sql`SELECT ${GRANT_COLUMNS} FROM reward_grants WHERE id = ${id}`);
      return grant && { grant, first: false };
    },

    /**
     * What a finalized run came to: its participants, those ranked (with a score) and the grants it made. Read after
     * the finalization has committed, for its log line.
     */
    async runOutcome(eventId: string, runNumber: number): Promise<RunOutcome | undefined> {
      const row = await reads.get<Record<keyof RunOutcome, number | string>>(sql`
        SELECT r.participants AS participants,
          (SELECT count(*) FROM scores s WHERE s.event_id = r.event_id AND s.run_number = r.run_number
            AND s.final_rank IS NOT NULL) AS ranked,
          (SELECT count(*) FROM reward_grants g WHERE g.event_id = r.event_id AND g.run_number = r.run_number) AS grants
        FROM event_runs r WHERE r.event_id = ${eventId} AND r.run_number = ${runNumber}`);
      // PostgreSQL's count(*) is a bigint, read back as a string.
      return row && { participants: Number(row.participants), ranked: Number(row.ranked), grants: Number(row.grants) };
    },
  };
}

/** The grant queries the reward service uses. */
export type GrantStore = ReturnType<typeof createGrantStore>;
