import { and, desc, eq, lt, or } from "drizzle-orm";
import type { Db, Tx } from "../db/database.js";
import { rewardGrants } from "../db/schema.js";

/** A reward grant as stored. */
export type GrantRow = typeof rewardGrants.$inferSelect;

/** A position in a player's grants, newest first. */
export interface GrantCursor {
  grantTime: number;
  id: string;
}

/** Drizzle queries of reward grants (they are written where runs are finalized: score-store.ts). */
export function createGrantStore(db: Db) {
  return {
    /** Up to `limit` grants of a player after `after`, newest first. */
    grantsOfPlayer(playerId: string, after: GrantCursor | undefined, limit: number): GrantRow[] {
      return db
        .select()
        .from(rewardGrants)
        .where(
          and(
            eq(rewardGrants.playerId, playerId),
            after &&
              or(
                lt(rewardGrants.grantTime, after.grantTime),
                and(eq(rewardGrants.grantTime, after.grantTime), lt(rewardGrants.id, after.id)),
              ),
          ),
        )
        .orderBy(desc(rewardGrants.grantTime), desc(rewardGrants.id))
        .limit(limit)
        .all();
    },

    /**
     * Claims a grant inside `tx`: the first claim sets its claim time, and every claim gets the grant as it is then
     * (undefined when there is no such grant).
     */
    claimGrant(tx: Tx, id: string, now: number): GrantRow | undefined {
      const current = tx.select().from(rewardGrants).where(eq(rewardGrants.id, id)).get();
      if (!current || current.claimTime !== null) return current;
      return tx.update(rewardGrants).set({ claimTime: now }).where(eq(rewardGrants.id, id)).returning().get();
    },
  };
}

/** The grant queries the reward service uses. */
export type GrantStore = ReturnType<typeof createGrantStore>;
