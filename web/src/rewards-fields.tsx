import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Reward, RewardSchema } from "../../gen/liveops/v1/event_pb.js";
import { Field } from "./components.js";

/** A reward as the form edits it: text inputs, the quantity as typed. */
export interface RewardRow {
  id: string;
  name: string;
  quantity: string;
}

/** The rows of an event's rewards. */
export function rewardRowsOf(rewards: readonly Reward[]): RewardRow[] {
  return rewards.map((r) => ({ id: r.id, name: r.name, quantity: r.quantity.toString() }));
}

/** The reward a row sends; a quantity that is not a whole number is sent as 0, for the server to reject. */
export function rewardOf(row: RewardRow): MessageInitShape<typeof RewardSchema> {
  const quantity = /^\d+$/.test(row.quantity.trim()) ? BigInt(row.quantity.trim()) : 0n;
  return { id: row.id.trim(), name: row.name, quantity };
}

/** The "Rewards" fieldset of the event form: one row per reward, each violation by the input it names. */
export function RewardsFields({
  rewards,
  onChange,
  errors,
}: {
  rewards: RewardRow[];
  onChange: (rewards: RewardRow[]) => void;
  /** The form's field violations, by path (`rewards[0].quantity`). */
  errors: ReadonlyMap<string, string>;
}) {
  const update = (i: number, patch: Partial<RewardRow>) =>
    onChange(rewards.map((r, k) => (k === i ? { ...r, ...patch } : r)));
  return (
    <fieldset>
      <legend>Rewards</legend>
      {rewards.map((reward, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place; their position is their identity
        <div className="row" key={i}>
          <Field id={`reward-${i}-id`} label={`Reward ${i + 1} id`} error={errors.get(`rewards[${i}].id`)}>
            <input id={`reward-${i}-id`} value={reward.id} onChange={(e) => update(i, { id: e.target.value })} />
          </Field>
          <Field id={`reward-${i}-name`} label={`Reward ${i + 1} name`} error={errors.get(`rewards[${i}].name`)}>
            <input id={`reward-${i}-name`} value={reward.name} onChange={(e) => update(i, { name: e.target.value })} />
          </Field>
          <Field
            id={`reward-${i}-quantity`}
            label={`Reward ${i + 1} quantity`}
            error={errors.get(`rewards[${i}].quantity`)}
          >
            <input
              id={`reward-${i}-quantity`}
              inputMode="numeric"
              value={reward.quantity}
              onChange={(e) => update(i, { quantity: e.target.value })}
            />
          </Field>
          <button
            type="button"
            onClick={() => onChange(rewards.filter((_, k) => k !== i))}
            aria-label={`Remove reward ${i + 1}`}
          >
            Remove
          </button>
        </div>
      ))}
      {errors.get("rewards") && (
        <small className="field-error" role="alert">
          {errors.get("rewards")}
        </small>
      )}
      <button type="button" onClick={() => onChange([...rewards, { id: "", name: "", quantity: "1" }])}>
        Add reward
      </button>
    </fieldset>
  );
}
