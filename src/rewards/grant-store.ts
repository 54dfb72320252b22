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
     * claims take in turn), and every claim gets the grant as it is then (undefined when there is no such grant).
     */
    async claimGrant(tx: Transaction, id: string, now: number): Promise<GrantRow | undefined> {
      const claimed = await tx.get<GrantRow>(sql`
        UPDATE reward_grants SET claim_time = ${now} WHERE id = ${id} AND claim_time IS NULL
        RETURNING ${GRANT_COLUMNS}`);
      if (claimed) await appendClusterChange(tx, "grant", claimed.eventId, { grantId: id, claimed: true }, now);
      return claimed ?? tx.get<GrantRow>(sql`SELECT ${GRANT_COLUMNS} FROM reward_grants WHERE id = ${id}`);
    },
  };
}

/** The grant queries the reward service uses. */
export type GrantStore = ReturnType<typeof createGrantStore>;
