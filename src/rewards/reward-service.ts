import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { and, desc, eq, lt, or } from "drizzle-orm";
import {
  type ClaimRewardRequest,
  type ClaimRewardResponse,
  ClaimRewardResponseSchema,
  type ListRewardGrantsRequest,
  type ListRewardGrantsResponse,
  ListRewardGrantsResponseSchema,
  type RewardGrant,
  RewardGrantSchema,
} from "../../gen/liveops/v1/reward_service_pb.js";
import type { Clock } from "../clock.js";
import type { Db } from "../db/database.js";
import { rewardGrants } from "../db/schema.js";
import { assertValid, notFound } from "../errors.js";
import { checkEventId } from "../events/event-validation.js";
import { checkPlayerId } from "../leaderboards/leaderboard-service.js";
import { type PageTokens, pageSizeOf, takePage } from "../page-token.js";
import { rewardsFromStored, type StoredReward } from "./reward-codec.js";

type GrantRow = typeof rewardGrants.$inferSelect;

function grantToMessage(row: GrantRow): RewardGrant {
  return create(RewardGrantSchema, {
    id: row.id,
    eventId: row.eventId,
    runNumber: BigInt(row.runNumber),
    playerId: row.playerId,
    rank: BigInt(row.rank),
    rewards: rewardsFromStored(JSON.parse(row.rewards) as StoredReward[]),
    grantTime: timestampFromMs(row.grantTime),
    claimTime: row.claimTime === null ? undefined : timestampFromMs(row.claimTime),
  });
}

interface GrantCursor {
  grantTime: number;
  id: string;
}

/** liveops.v1.RewardService: players' reward grants and their one-time claims. */
export function createRewardService({ db, clock, pageTokens }: { db: Db; clock: Clock; pageTokens: PageTokens }) {
  return {
    listRewardGrants(req: ListRewardGrantsRequest): ListRewardGrantsResponse {
      assertValid(checkPlayerId(req.playerId));
      const limit = pageSizeOf(req.pageSize);
      const scope = `ListRewardGrants/${req.playerId}`;
      const after = pageTokens.decode(scope, req.pageToken) as GrantCursor | undefined;
      const rows = db
        .select()
        .from(rewardGrants)
        .where(
          and(
            eq(rewardGrants.playerId, req.playerId),
            after &&
              or(
                lt(rewardGrants.grantTime, after.grantTime),
                and(eq(rewardGrants.grantTime, after.grantTime), lt(rewardGrants.id, after.id)),
              ),
          ),
        )
        .orderBy(desc(rewardGrants.grantTime), desc(rewardGrants.id))
        .limit(limit + 1)
        .all();
      const { page, last } = takePage(rows, limit);
      return create(ListRewardGrantsResponseSchema, {
        grants: page.map(grantToMessage),
        nextPageToken: last ? pageTokens.encode(scope, { grantTime: last.grantTime, id: last.id }) : "",
      });
    },

    claimReward(req: ClaimRewardRequest): ClaimRewardResponse {
      assertValid(checkEventId(req.grantId, "grant_id"));
      const id = req.grantId.toLowerCase();
      // One transaction: of concurrent claims, the first sets the claim time and every one returns the same grant.
      const row = db.transaction(
        (tx) => {
          const current = tx.select().from(rewardGrants).where(eq(rewardGrants.id, id)).get();
          if (!current || current.claimTime !== null) return current;
          return tx
            .update(rewardGrants)
            .set({ claimTime: clock.now() })
            .where(eq(rewardGrants.id, id))
            .returning()
            .get();
        },
        { behavior: "immediate" },
      );
      if (!row) throw notFound("reward_grant", req.grantId);
      return create(ClaimRewardResponseSchema, { grant: grantToMessage(row) });
    },
  };
}
