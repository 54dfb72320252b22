import { create } from "@bufbuild/protobuf";
import {
  type Leaderboard,
  LeaderboardOrder,
  LeaderboardSchema,
  PrizeTierSchema,
  type Reward,
  ScoreOperator,
} from "../../gen/liveops/v1/event_pb.js";
import type { FieldViolation } from "../errors.js";
import { rewardsFromStored, rewardsToStored, type StoredReward } from "../rewards/reward-codec.js";
import { checkRewards } from "../rewards/reward-rules.js";

/** A prize tier: ranks `rankFrom` to `rankTo` (inclusive) win `rewards`. */
export interface PrizeTier {
  rankFrom: number;
  rankTo: number;
  rewards: Reward[];
}

/** The leaderboard of an event, as the service uses it. */
export interface LeaderboardConfig {
  order: LeaderboardOrder;
  operator: ScoreOperator;
  joinRequired: boolean;
  /** 0: no limit. */
  maxParticipants: number;
  /** 0: no limit. */
  maxSubmissions: number;
  prizeTiers: PrizeTier[];
}

const MAX_TIERS = 100;
const MAX_PARTICIPANTS = 10_000_000;

/** The configuration of a Leaderboard message (checked separately by {@link checkLeaderboard}). */
export function leaderboardFromMessage(message: Leaderboard): LeaderboardConfig {
  return {
    order: message.order,
    operator: message.scoreOperator,
    joinRequired: message.joinRequired,
    maxParticipants: message.maxParticipants,
    maxSubmissions: message.maxSubmissions,
    prizeTiers: message.prizeTiers.map((t) => ({ rankFrom: t.rankFrom, rankTo: t.rankTo, rewards: t.rewards })),
  };
}

/** The Leaderboard message of a configuration. */
export function leaderboardToMessage(config: LeaderboardConfig): Leaderboard {
  return create(LeaderboardSchema, {
    order: config.order,
    scoreOperator: config.operator,
    joinRequired: config.joinRequired,
    maxParticipants: config.maxParticipants,
    maxSubmissions: config.maxSubmissions,
    prizeTiers: config.prizeTiers.map((t) => create(PrizeTierSchema, t)),
  });
}

/** The JSON a configuration is stored as (quantities as decimal strings: they are int64). */
export function leaderboardToJson(config: LeaderboardConfig): string {
  return JSON.stringify({
    ...config,
    prizeTiers: config.prizeTiers.map((t) => ({
      ...t,
      rewards: rewardsToStored(t.rewards),
    })),
  });
}

/** The configuration stored as `json`. */
export function leaderboardFromJson(json: string): LeaderboardConfig {
  const stored = JSON.parse(json) as Omit<LeaderboardConfig, "prizeTiers"> & {
    prizeTiers: { rankFrom: number; rankTo: number; rewards: StoredReward[] }[];
  };
  return {
    ...stored,
    prizeTiers: stored.prizeTiers.map((t) => ({
      ...t,
      rewards: rewardsFromStored(t.rewards),
    })),
  };
}

/** Violations of a leaderboard configuration at `path` (e.g. `event.leaderboard`). */
export function checkLeaderboard(config: LeaderboardConfig, path: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const violation = (field: string, description: string, reason: string) =>
    violations.push({ field: `${path}.${field}`, description, reason });
  if (!(config.order in LeaderboardOrder) || config.order === LeaderboardOrder.UNSPECIFIED) {
    violation("order", "is required: LEADERBOARD_ORDER_HIGHER_FIRST or LEADERBOARD_ORDER_LOWER_FIRST", "REQUIRED");
  }
  if (!(config.operator in ScoreOperator) || config.operator === ScoreOperator.UNSPECIFIED) {
    violation("score_operator", "is required: SCORE_OPERATOR_BEST, _SET, _INCR or _DECR", "REQUIRED");
  }
  if (config.maxParticipants < 0 || config.maxParticipants > MAX_PARTICIPANTS) {
    violation("max_participants", `must be 0 (no limit) to ${MAX_PARTICIPANTS}`, "OUT_OF_RANGE");
  }
  if (config.maxSubmissions < 0) violation("max_submissions", "must be 0 (no limit) or more", "OUT_OF_RANGE");
  if (config.prizeTiers.length > MAX_TIERS)
    violation("prize_tiers", `must hold at most ${MAX_TIERS} tiers`, "TOO_MANY");
  const tiers = config.prizeTiers.slice(0, MAX_TIERS).map((tier, i) => ({ tier, i }));
  for (const { tier, i } of tiers) {
    const at = `prize_tiers[${i}]`;
    if (tier.rankFrom < 1) violation(`${at}.rank_from`, "must be 1 or more", "OUT_OF_RANGE");
    if (tier.rankTo < tier.rankFrom) violation(`${at}.rank_to`, "must be at least rank_from", "OUT_OF_RANGE");
    if (tier.rewards.length === 0) violation(`${at}.rewards`, "must hold at least one reward", "REQUIRED");
    violations.push(...checkRewards(tier.rewards, `${path}.${at}.rewards`));
  }
  const sorted = tiers.filter(({ tier }) => tier.rankFrom >= 1 && tier.rankTo >= tier.rankFrom);
  sorted.sort((a, b) => a.tier.rankFrom - b.tier.rankFrom);
  for (let k = 1; k < sorted.length; k++) {
    const previous = sorted[k - 1];
    const current = sorted[k];
    if (previous && current && current.tier.rankFrom <= previous.tier.rankTo) {
      violation(
        `prize_tiers[${current.i}]`,
        `overlaps prize_tiers[${previous.i}] (ranks ${previous.tier.rankFrom}–${previous.tier.rankTo})`,
        "OVERLAP",
      );
    }
  }
  return violations;
}

/** The rewards of a final rank, if a tier covers it. */
export function rewardsOfRank(config: LeaderboardConfig, rank: number): Reward[] | undefined {
  return config.prizeTiers.find((t) => t.rankFrom <= rank && rank <= t.rankTo)?.rewards;
}
