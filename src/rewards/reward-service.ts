import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, type HandlerContext } from "@connectrpc/connect";
import type { Logger } from "pino";
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
import { type Principal, principalKey } from "../auth/access-control.js";
import type { Clock } from "../clock.js";
import type { Storage } from "../db/storage.js";
import { assertValid, type FieldViolation, notFound, serviceError } from "../errors.js";
import { checkEventId } from "../events/event-validation.js";
import { checkPlayerId } from "../leaderboards/leaderboard-service.js";
import type { Metrics } from "../metrics/metrics.js";
import { type PageTokens, pageSizeOf, takePage } from "../page-token.js";
import { ownPlayer } from "../players/player-view.js";
import type { GrantCursor, GrantFilter, GrantRow, GrantStore } from "./grant-store.js";
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

/**
 * The grants a ListRewardGrants request asks for: a player's (a player token's own, whatever it names), an event's
 * or one of its runs', or both; INVALID_ARGUMENT naming every bad field.
 */
function grantFilterOf(req: ListRewardGrantsRequest, principal: Principal | undefined): GrantFilter {
  const playerId = ownPlayer(principal, req.playerId);
  const violations: FieldViolation[] = [];
  if (req.eventId !== "") violations.push(...checkEventId(req.eventId, "event_id"));
  if (playerId !== "" || req.eventId === "") {
    const invalid = checkPlayerId(playerId);
    if (invalid[0]?.reason === "REQUIRED") {
      violations.push({ field: "player_id", description: "is required unless event_id is given", reason: "REQUIRED" });
    } else {
      violations.push(...invalid);
    }
  }
  if (req.runNumber < 0n) {
    violations.push({ field: "run_number", description: "must not be negative", reason: "NEGATIVE" });
  } else if (req.runNumber > BigInt(Number.MAX_SAFE_INTEGER)) {
    violations.push({ field: "run_number", description: "must be at most 2^53 - 1", reason: "OUT_OF_RANGE" });
  } else if (req.runNumber > 0n && req.eventId === "") {
    violations.push({ field: "run_number", description: "requires event_id", reason: "REQUIRES_EVENT_ID" });
  }
  assertValid(violations);
  // Readers of the console see an event's grants; a player's whole history is for its game server and admins.
  if ((principal?.role === "viewer" || principal?.role === "operator") && req.eventId === "") {
    throw serviceError(
      Code.PermissionDenied,
      "EVENT_ID_REQUIRED",
      "a viewer or operator key lists the grants of one event (event_id); a player's grants across events are for game_server and admin keys",
    );
  }
  return {
    playerId: playerId === "" ? undefined : playerId,
    eventId: req.eventId === "" ? undefined : req.eventId.toLowerCase(),
    runNumber: req.runNumber === 0n ? undefined : Number(req.runNumber),
  };
}

/** liveops.v1.RewardService: players' reward grants and their one-time claims. */
export function createRewardService(deps: {
  grants: GrantStore;
  storage: Storage;
  clock: Clock;
  pageTokens: PageTokens;
  logger: Logger;
  metrics: Pick<Metrics, "claimsMade">;
}) {
  const { grants, storage, clock, pageTokens, logger, metrics } = deps;
  return {
    async listRewardGrants(req: ListRewardGrantsRequest, ctx: HandlerContext): Promise<ListRewardGrantsResponse> {
      const filter = grantFilterOf(req, ctx.values.get(principalKey));
      const limit = pageSizeOf(req.pageSize);
      // Tokens of a player's grants keep the scope they had before grants could be listed by event.
      const scope =
        filter.eventId === undefined
          ? `ListRewardGrants/${filter.playerId}`
          : `ListRewardGrants/${JSON.stringify([filter.playerId ?? "", filter.eventId, filter.runNumber ?? 0])}`;
      const after = pageTokens.decode(scope, req.pageToken) as GrantCursor | undefined;
      const rows = await grants.listGrants(filter, after, limit + 1);
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
      const claim = await storage.withTransaction(
        async (tx) => {
          // A player claims only its own grants.
          const grant = player === undefined ? undefined : await grants.findGrant(tx, id);
          if (grant && player !== undefined) ownPlayer(ctx.values.get(principalKey), grant.playerId);
          return grants.claimGrant(tx, id, clock.now());
        },
        { signal: ctx.signal },
      );
      if (!claim) throw notFound("reward_grant", req.grantId);
      const { grant, first } = claim;
      // Once per grant, by the instance whose claim set it: a repeated claim is answered, not logged again.
      if (first) {
        metrics.claimsMade.inc();
        logger.info(
          {
            grant_id: grant.id,
            event_id: grant.eventId,
            run_number: grant.runNumber,
            player_id: grant.playerId,
            rank: grant.rank,
          },
          "reward claimed",
        );
      }
      return create(ClaimRewardResponseSchema, { grant: grantToMessage(grant) });
    },
  };
}
