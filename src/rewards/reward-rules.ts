import type { Reward } from "../../gen/liveops/v1/event_pb.js";
import type { FieldViolation } from "../errors.js";

/** At most this many rewards in one list (an event's, a prize tier's). */
export const REWARDS_MAX = 100;
/** The longest reward name, in characters. */
export const REWARD_NAME_MAX = 100;
const REWARD_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Violations of a list of rewards at `path`: at most 100, distinct well-formed ids, names, positive quantities. */
export function checkRewards(rewards: readonly Reward[], path: string): FieldViolation[] {
  const violations: FieldViolation[] = [];
  const violation = (field: string, description: string, reason: string) =>
    violations.push({ field: `${path}${field}`, description, reason });
  if (rewards.length > REWARDS_MAX) violation("", `must hold at most ${REWARDS_MAX} rewards`, "TOO_MANY");
  const seen = new Set<string>();
  rewards.slice(0, REWARDS_MAX).forEach((reward, i) => {
    const at = `[${i}]`;
    if (!REWARD_ID.test(reward.id)) {
      violation(`${at}.id`, "must be 1 to 64 letters, digits, '_', '-', '.' or ':'", "INVALID_FORMAT");
    } else if (seen.has(reward.id)) {
      violation(`${at}.id`, `duplicates the reward id "${reward.id}"`, "DUPLICATE");
    }
    seen.add(reward.id);
    if (reward.name.trim() === "") violation(`${at}.name`, "is required", "REQUIRED");
    else if ([...reward.name].length > REWARD_NAME_MAX) {
      violation(`${at}.name`, `must be at most ${REWARD_NAME_MAX} characters`, "TOO_LONG");
    }
    if (reward.quantity <= 0n) violation(`${at}.quantity`, "must be greater than 0", "NOT_POSITIVE");
  });
  return violations;
}
