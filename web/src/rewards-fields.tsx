import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Reward, RewardSchema } from "../../gen/liveops/v1/event_pb.js";
import { Field } from "./components.js";
import { invalidProps } from "./errors.js";

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

/** Whether the violation at `path` is shown by rows of `count` rewards at `listPath` (`rewards`). */
export function rewardRowsShow(path: string, listPath: string, count: number): boolean {
  if (path === listPath) return true;
  const m = /^\[(\d+)\]\.(id|name|quantity)$/.exec(path.slice(listPath.length));
  return path.startsWith(listPath) && !!m && Number(m[1]) < count;
}

/**
 * Rows of rewards (an event's, or a prize tier's), each violation under the input it names; labelled
 * `<label> 1 id`… as errors.ts eventFieldLabel names them.
 */
export function RewardRows({
  rows,
  onChange,
  errors,
  path,
  idPrefix,
  label,
}: {
  rows: RewardRow[];
  onChange: (rows: RewardRow[]) => void;
  /** The form's field violations, by path. */
  errors: ReadonlyMap<string, string>;
  /** The list's path in the event (`rewards`, `leaderboard.prize_tiers[0].rewards`). */
  path: string;
  idPrefix: string;
  /** What a row is called: `Reward`, `Tier 1 reward`. */
  label: string;
}) {
  const update = (i: number, patch: Partial<RewardRow>) =>
    onChange(rows.map((r, k) => (k === i ? { ...r, ...patch } : r)));
  const listError = errors.get(path);
  return (
    <>
      {rows.map((reward, i) => {
        const at = (part: keyof RewardRow) => ({
          id: `${idPrefix}-${i}-${part}`,
          label: `${label} ${i + 1} ${part}`,
          error: errors.get(`${path}[${i}].${part}`),
        });
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place; their position is their identity
          <div className="row reward-row" key={i}>
            {(["id", "name", "quantity"] as const).map((part) => {
              const field = at(part);
              return (
                <Field key={part} id={field.id} label={field.label} error={field.error}>
                  <input
                    id={field.id}
                    value={reward[part]}
                    inputMode={part === "quantity" ? "numeric" : undefined}
                    onChange={(e) => update(i, { [part]: e.target.value })}
                    {...invalidProps(field.id, field.error)}
                  />
                </Field>
              );
            })}
            <button
              type="button"
              onClick={() => onChange(rows.filter((_, k) => k !== i))}
              aria-label={`Remove ${label.toLowerCase()} ${i + 1}`}
            >
              Remove
            </button>
          </div>
        );
      })}
      {listError && (
        <small className="field-error" id={`${idPrefix}-error`} role="alert">
          {listError}
        </small>
      )}
      <button
        type="button"
        onClick={() => onChange([...rows, { id: "", name: "", quantity: "1" }])}
        data-invalid={listError ? true : undefined}
        aria-describedby={listError ? `${idPrefix}-error` : undefined}
      >
        Add {label.toLowerCase()}
      </button>
    </>
  );
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
  return (
    <fieldset>
      <legend>Rewards</legend>
      <RewardRows rows={rewards} onChange={onChange} errors={errors} path="rewards" idPrefix="reward" label="Reward" />
    </fieldset>
  );
}
