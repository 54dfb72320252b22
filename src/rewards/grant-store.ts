import { sql } from "drizzle-orm";
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

/** A position in a player's grants, newest first. */
export interface GrantCursor {
  grantTime: number;
  id: string;
}

const GRANT_COLUMNS = sql.raw(`id, event_id AS "eventId", run_number AS "runNumber", player_id AS "playerId", rank,
  rewards, grant_time AS "grantTime", claim_time AS "claimTime"`);

/** Queries of reward grants (they are written where runs are finalized: score-store.ts). */
export function createGrantStore(reads: SqlClient) {
  return {
    /** Up to `limit` grants of a player after `after`, newest first. */
    grantsOfPlayer(playerId: string, after: GrantCursor | undefined, limit: number): Promise<GrantRow[]> {
      const afterCursor = after
        ? sql`AND (grant_time < ${after.grantTime} OR (grant_time = ${after.grantTime} AND id < ${after.id}))`
        : sql.empty();
      return reads.all<GrantRow>(sql`
        SELECT ${GRANT_COLUMNS} FROM reward_grants WHERE player_id = ${playerId} ${afterCursor}
        ORDER BY grant_time DESC, id DESC LIMIT ${limit}`);
    },

    /**
     * Claims a grant inside `tx`: the first claim sets its claim time (one conditional UPDATE, which concurrent
     * claims take in turn), and every claim gets the grant as it is then (undefined when there is no such grant).
     */
    /** The grant `id`, if any, read through `client`. */
    findGrant(client: SqlClient, id: string): Promise<GrantRow | undefined> {
      return client.get<GrantRow>(sql`SELECT ${GRANT_COLUMNS} FROM reward_grants WHERE id = ${id}`);
    },

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
