import { create } from "@bufbuild/protobuf";
import { type Reward, RewardSchema } from "../../gen/liveops/v1/event_pb.js";

/** A reward as stored in JSON columns: the quantity as a decimal string, since int64 quantities may pass 2^53. */
export type StoredReward = {
  id: string;
  name: string;
  quantity: string;
};

/** Rewards as stored (an event's, a prize tier's, a grant's) and in the audit log. */
export function rewardsToStored(rewards: readonly Reward[]): StoredReward[] {
  return rewards.map((r) => ({ id: r.id, name: r.name, quantity: r.quantity.toString() }));
}

/** Stored rewards as messages. */
export function rewardsFromStored(stored: readonly StoredReward[]): Reward[] {
  return stored.map((r) => create(RewardSchema, { id: r.id, name: r.name, quantity: BigInt(r.quantity) }));
}
