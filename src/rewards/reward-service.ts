import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
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
import { principalKey } from "../auth/access-control.js";
import type { Clock } from "../clock.js";
import type { Storage } from "../db/storage.js";
import { assertValid, notFound } from "../errors.js";
import { checkEventId } from "../events/event-validation.js";
import { checkPlayerId } from "../leaderboards/leaderboard-service.js";
import { type PageTokens, pageSizeOf, takePage } from "../page-token.js";
import { ownPlayer } from "../players/player-view.js";
import type { GrantCursor, GrantRow, GrantStore } from "./grant-store.js";
import { rewardsFromStored, type StoredReward } from "./reward-codec.js";

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

/** liveops.v1.RewardService: players' reward grants and their one-time claims. */
export function createRewardService(deps: {
  grants: GrantStore;
  storage: Storage;
  clock: Clock;
  pageTokens: PageTokens;
}) {
  const { grants, storage, clock, pageTokens } = deps;
  return {
    async listRewardGrants(req: ListRewardGrantsRequest, ctx: HandlerContext): Promise<ListRewardGrantsResponse> {
      const playerId = ownPlayer(ctx.values.get(principalKey), req.playerId);
      assertValid(checkPlayerId(playerId));
      const limit = pageSizeOf(req.pageSize);
      const scope = `ListRewardGrants/${playerId}`;
      const after = pageTokens.decode(scope, req.pageToken) as GrantCursor | undefined;
      const rows = await grants.grantsOfPlayer(playerId, after, limit + 1);
      const { page, last } = takePage(rows, limit);
      return create(ListRewardGrantsResponseSchema, {
        grants: page.map(grantToMessage),
        nextPageToken: last ? pageTokens.encode(scope, { grantTime: last.grantTime, id: last.id }) : "",
      });
    },

    async claimReward(req: ClaimRewardRequest, ctx: HandlerContext): Promise<ClaimRewardResponse> {
      assertValid(checkEventId(req.grantId, "grant_id"));
      const id = req.grantId.toLowerCase();
      // Of concurrent claims, the first sets the claim time and every one gets the same grant.
      const player = ctx.values.get(principalKey)?.playerId;
      const row = await storage.withTransaction(
        async (tx) => {
          // A player claims only its own grants.
          const grant = player === undefined ? undefined : await grants.findGrant(tx, id);
          if (grant && player !== undefined) ownPlayer(ctx.values.get(principalKey), grant.playerId);
          return grants.claimGrant(tx, id, clock.now());
        },
        { signal: ctx.signal },
      );
      if (!row) throw notFound("reward_grant", req.grantId);
      return create(ClaimRewardResponseSchema, { grant: grantToMessage(row) });
    },
  };
}
