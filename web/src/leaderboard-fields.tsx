import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type Leaderboard,
  LeaderboardOrder,
  type LeaderboardSchema,
  ScoreOperator,
} from "../../gen/liveops/v1/event_pb.js";
import { Field } from "./components.js";
import { type RewardRow, rewardOf } from "./rewards-fields.js";

/** A prize tier as the form edits it: its ranks and its one reward, as typed. */
export interface TierRow extends RewardRow {
  from: string;
  to: string;
}

/** The leaderboard part of the event form's state. */
export interface LeaderboardState {
  hasLeaderboard: boolean;
  order: LeaderboardOrder;
  operator: ScoreOperator;
  joinRequired: boolean;
  maxParticipants: string;
  maxSubmissions: string;
  tiers: TierRow[];
}

// Not a whole number: -1, which the server rejects by the field's name.
const integer = (n: string) => (/^-?\d+$/.test(n.trim()) ? Number(n.trim()) : -1);

/** The form's state of an event's leaderboard (the defaults of a new one when it has none). */
export function leaderboardStateOf(board: Leaderboard | undefined): LeaderboardState {
  return {
    hasLeaderboard: board !== undefined,
    order: board?.order ?? LeaderboardOrder.HIGHER_FIRST,
    operator: board?.scoreOperator ?? ScoreOperator.BEST,
    joinRequired: board?.joinRequired ?? false,
    maxParticipants: String(board?.maxParticipants ?? 0),
    maxSubmissions: String(board?.maxSubmissions ?? 0),
    tiers: (board?.prizeTiers ?? []).map((t) => ({
      from: String(t.rankFrom),
      to: String(t.rankTo),
      id: t.rewards[0]?.id ?? "",
      name: t.rewards[0]?.name ?? "",
      quantity: t.rewards[0]?.quantity.toString() ?? "1",
    })),
  };
}

/** The leaderboard the form sends: none unless the event has one. */
export function leaderboardOf(state: LeaderboardState): MessageInitShape<typeof LeaderboardSchema> | undefined {
  if (!state.hasLeaderboard) return undefined;
  return {
    order: state.order,
    scoreOperator: state.operator,
    joinRequired: state.joinRequired,
    maxParticipants: integer(state.maxParticipants),
    maxSubmissions: integer(state.maxSubmissions),
    prizeTiers: state.tiers.map((t) => ({ rankFrom: integer(t.from), rankTo: integer(t.to), rewards: [rewardOf(t)] })),
  };
}

/** Whether an edit changed the leaderboard (the `leaderboard` path of its update mask). */
export function leaderboardChanged(before: LeaderboardState, after: LeaderboardState): boolean {
  const board = (s: LeaderboardState) =>
    JSON.stringify([
      s.hasLeaderboard,
      s.order,
      s.operator,
      s.joinRequired,
      s.maxParticipants,
      s.maxSubmissions,
      s.tiers,
    ]);
  return board(before) !== board(after);
}

/** The violations under a path, each told by the rest of its path (`.rank_to: …`). */
function violationsUnder(errors: ReadonlyMap<string, string>, prefix: string): string[] {
  return [...errors.entries()]
    .filter(([f]) => f.startsWith(prefix))
    .map(([f, d]) => `${f.slice(prefix.length) || prefix}: ${d}`);
}

/**
 * The "Leaderboard" fieldset of the event form: whether players compete, how scores rank and combine, the limits, and
 * the prize tiers, each tier's violations below its row.
 */
export function LeaderboardFields({
  value,
  onChange,
  errors,
}: {
  value: LeaderboardState;
  onChange: (patch: Partial<LeaderboardState>) => void;
  /** The form's field violations, by path (`leaderboard.max_participants`). */
  errors: ReadonlyMap<string, string>;
}) {
  return (
    <fieldset>
      <legend>Leaderboard</legend>
      <label className="inline">
        <input
          type="checkbox"
          checked={value.hasLeaderboard}
          onChange={(e) => onChange({ hasLeaderboard: e.target.checked })}
        />{" "}
        Players compete on a leaderboard
      </label>
      {value.hasLeaderboard && (
        <>
          <LeaderboardRules value={value} onChange={onChange} errors={errors} />
          <h3>Prize tiers</h3>
          {value.tiers.map((tier, i) => (
            <PrizeTier
              // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place; their position is their identity
              key={i}
              tier={tier}
              index={i}
              onChange={(patch) => onChange({ tiers: value.tiers.map((t, k) => (k === i ? { ...t, ...patch } : t)) })}
              onRemove={() => onChange({ tiers: value.tiers.filter((_, k) => k !== i) })}
              errors={violationsUnder(errors, `leaderboard.prize_tiers[${i}]`)}
            />
          ))}
          <button
            type="button"
            onClick={() =>
              onChange({ tiers: [...value.tiers, { from: "1", to: "1", id: "", name: "", quantity: "1" }] })
            }
          >
            Add prize tier
          </button>
        </>
      )}
    </fieldset>
  );
}

/** How a leaderboard ranks and combines scores, its limits, and whether players must join. */
function LeaderboardRules({
  value,
  onChange,
  errors,
}: {
  value: LeaderboardState;
  onChange: (patch: Partial<LeaderboardState>) => void;
  errors: ReadonlyMap<string, string>;
}) {
  return (
    <>
      <div className="row">
        <Field id="order" label="Ranking" error={errors.get("leaderboard.order")}>
          <select id="order" value={value.order} onChange={(e) => onChange({ order: Number(e.target.value) })}>
            <option value={LeaderboardOrder.HIGHER_FIRST}>Higher scores first</option>
            <option value={LeaderboardOrder.LOWER_FIRST}>Lower scores first</option>
          </select>
        </Field>
        <Field id="operator" label="Score operator" error={errors.get("leaderboard.score_operator")}>
          <select id="operator" value={value.operator} onChange={(e) => onChange({ operator: Number(e.target.value) })}>
            <option value={ScoreOperator.BEST}>Keep the best</option>
            <option value={ScoreOperator.SET}>Replace</option>
            <option value={ScoreOperator.INCR}>Add</option>
            <option value={ScoreOperator.DECR}>Subtract</option>
          </select>
        </Field>
        <Field
          id="max-participants"
          label="Max participants (0: no limit)"
          error={errors.get("leaderboard.max_participants")}
        >
          <input
            id="max-participants"
            inputMode="numeric"
            value={value.maxParticipants}
            onChange={(e) => onChange({ maxParticipants: e.target.value })}
          />
        </Field>
        <Field
          id="max-submissions"
          label="Max submissions (0: no limit)"
          error={errors.get("leaderboard.max_submissions")}
        >
          <input
            id="max-submissions"
            inputMode="numeric"
            value={value.maxSubmissions}
            onChange={(e) => onChange({ maxSubmissions: e.target.value })}
          />
        </Field>
      </div>
      <label className="inline">
        <input
          type="checkbox"
          checked={value.joinRequired}
          onChange={(e) => onChange({ joinRequired: e.target.checked })}
        />{" "}
        Players must join first
      </label>
    </>
  );
}

/** One prize tier's row: its ranks and its reward, with the tier's violations below. */
function PrizeTier({
  tier,
  index: i,
  onChange,
  onRemove,
  errors,
}: {
  tier: TierRow;
  index: number;
  onChange: (patch: Partial<TierRow>) => void;
  onRemove: () => void;
  errors: string[];
}) {
  return (
    <div className="tier">
      <div className="row">
        <Field id={`tier-${i}-from`} label={`Tier ${i + 1}: from rank`}>
          <input
            id={`tier-${i}-from`}
            inputMode="numeric"
            value={tier.from}
            onChange={(e) => onChange({ from: e.target.value })}
          />
        </Field>
        <Field id={`tier-${i}-to`} label={`Tier ${i + 1}: to rank`}>
          <input
            id={`tier-${i}-to`}
            inputMode="numeric"
            value={tier.to}
            onChange={(e) => onChange({ to: e.target.value })}
          />
        </Field>
        <Field id={`tier-${i}-reward`} label={`Tier ${i + 1}: reward id`}>
          <input id={`tier-${i}-reward`} value={tier.id} onChange={(e) => onChange({ id: e.target.value })} />
        </Field>
        <Field id={`tier-${i}-name`} label={`Tier ${i + 1}: reward name`}>
          <input id={`tier-${i}-name`} value={tier.name} onChange={(e) => onChange({ name: e.target.value })} />
        </Field>
        <Field id={`tier-${i}-quantity`} label={`Tier ${i + 1}: quantity`}>
          <input
            id={`tier-${i}-quantity`}
            inputMode="numeric"
            value={tier.quantity}
            onChange={(e) => onChange({ quantity: e.target.value })}
          />
        </Field>
        <button type="button" onClick={onRemove} aria-label={`Remove tier ${i + 1}`}>
          Remove
        </button>
      </div>
      {errors.map((text) => (
        <small key={text} className="field-error" role="alert">
          {text}
        </small>
      ))}
    </div>
  );
}
