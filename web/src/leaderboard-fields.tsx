import type { MessageInitShape } from "@bufbuild/protobuf";
import { Lock } from "lucide-react";
import { useId } from "react";
import {
  type Leaderboard,
  LeaderboardOrder,
  type LeaderboardSchema,
  ScoreOperator,
} from "../../gen/liveops/v1/event_pb.js";
import { Field } from "./components.js";
import { invalidProps } from "./errors.js";
import { type RewardRow, RewardRows, rewardOf, rewardRowsOf, rewardRowsShow } from "./rewards-fields.js";

/** A prize tier as the form edits it: its ranks and its rewards, as typed. */
export interface TierRow {
  from: string;
  to: string;
  rewards: RewardRow[];
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
      rewards: rewardRowsOf(t.rewards),
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
    prizeTiers: state.tiers.map((t) => ({
      rankFrom: integer(t.from),
      rankTo: integer(t.to),
      rewards: t.rewards.map(rewardOf),
    })),
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

const LEADERBOARD_FIELDS = ["order", "score_operator", "max_participants", "max_submissions", "prize_tiers"];

/** Whether the violation at `path` is shown by the leaderboard's inputs, as `state` has them. */
export function leaderboardShows(path: string, state: LeaderboardState): boolean {
  if (!state.hasLeaderboard || !path.startsWith("leaderboard.")) return false;
  const rest = path.slice("leaderboard.".length);
  if (LEADERBOARD_FIELDS.includes(rest)) return true;
  const m = /^prize_tiers\[(\d+)\](.*)$/.exec(rest);
  if (!m || Number(m[1]) >= state.tiers.length) return false;
  const tier = `leaderboard.prize_tiers[${m[1]}]`;
  return (
    m[2] === "" ||
    m[2] === ".rank_from" ||
    m[2] === ".rank_to" ||
    rewardRowsShow(path, `${tier}.rewards`, state.tiers[Number(m[1])]?.rewards.length ?? 0)
  );
}

/**
 * The "Leaderboard" fieldset of the event form: whether players compete, how scores rank and combine, the limits, and
 * the prize tiers, each violation on the input it names. `locked` disables it all, saying why.
 */
export function LeaderboardFields({
  value,
  onChange,
  errors,
  locked,
}: {
  value: LeaderboardState;
  onChange: (patch: Partial<LeaderboardState>) => void;
  /** The form's field violations, by path (`leaderboard.max_participants`). */
  errors: ReadonlyMap<string, string>;
  /** Why the leaderboard cannot change now, if it cannot. */
  locked?: string | undefined;
}) {
  const reasonId = useId();
  const tiersError = errors.get("leaderboard.prize_tiers");
  return (
    <fieldset disabled={!!locked} aria-describedby={locked ? reasonId : undefined}>
      <legend>Leaderboard</legend>
      {locked && (
        <p id={reasonId} className="lock-reason">
          <Lock className="icon" aria-hidden /> {locked}
        </p>
      )}
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
              errors={errors}
            />
          ))}
          {tiersError && (
            <small className="field-error" id="prize-tiers-error" role="alert">
              {tiersError}
            </small>
          )}
          <button
            type="button"
            data-invalid={tiersError ? true : undefined}
            aria-describedby={tiersError ? "prize-tiers-error" : undefined}
            onClick={() =>
              onChange({
                tiers: [...value.tiers, { from: "1", to: "1", rewards: [{ id: "", name: "", quantity: "1" }] }],
              })
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
  const at = (id: string, path: string) => ({ id, error: errors.get(`leaderboard.${path}`) });
  const order = at("order", "order");
  const operator = at("operator", "score_operator");
  const participants = at("max-participants", "max_participants");
  const submissions = at("max-submissions", "max_submissions");
  return (
    <>
      <div className="row">
        <Field id={order.id} label="Ranking" error={order.error}>
          <select
            id={order.id}
            value={value.order}
            onChange={(e) => onChange({ order: Number(e.target.value) })}
            {...invalidProps(order.id, order.error)}
          >
            <option value={LeaderboardOrder.HIGHER_FIRST}>Higher scores first</option>
            <option value={LeaderboardOrder.LOWER_FIRST}>Lower scores first</option>
          </select>
        </Field>
        <Field id={operator.id} label="Score operator" error={operator.error}>
          <select
            id={operator.id}
            value={value.operator}
            onChange={(e) => onChange({ operator: Number(e.target.value) })}
            {...invalidProps(operator.id, operator.error)}
          >
            <option value={ScoreOperator.BEST}>Keep the best</option>
            <option value={ScoreOperator.SET}>Replace</option>
            <option value={ScoreOperator.INCR}>Add</option>
            <option value={ScoreOperator.DECR}>Subtract</option>
          </select>
        </Field>
        <Field id={participants.id} label="Max participants (0: no limit)" error={participants.error}>
          <input
            id={participants.id}
            inputMode="numeric"
            value={value.maxParticipants}
            onChange={(e) => onChange({ maxParticipants: e.target.value })}
            {...invalidProps(participants.id, participants.error)}
          />
        </Field>
        <Field id={submissions.id} label="Max submissions (0: no limit)" error={submissions.error}>
          <input
            id={submissions.id}
            inputMode="numeric"
            value={value.maxSubmissions}
            onChange={(e) => onChange({ maxSubmissions: e.target.value })}
            {...invalidProps(submissions.id, submissions.error)}
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

/**
 * One prize tier: its ranks and its rewards. A violation of the tier itself (it overlaps another) is shown on its
 * ranks, a rank's on that rank, a reward's on that reward's input.
 */
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
  errors: ReadonlyMap<string, string>;
}) {
  const path = `leaderboard.prize_tiers[${i}]`;
  const whole = errors.get(path);
  const join = (...texts: (string | undefined)[]) => texts.filter((t) => t !== undefined).join("; ") || undefined;
  const from = { id: `tier-${i}-from`, error: join(errors.get(`${path}.rank_from`), whole) };
  const to = { id: `tier-${i}-to`, error: errors.get(`${path}.rank_to`) };
  return (
    <fieldset className="tier">
      <legend>Tier {i + 1}</legend>
      <div className="row">
        <Field id={from.id} label={`Tier ${i + 1}: from rank`} error={from.error}>
          <input
            id={from.id}
            inputMode="numeric"
            value={tier.from}
            onChange={(e) => onChange({ from: e.target.value })}
            {...invalidProps(from.id, from.error)}
          />
        </Field>
        <Field id={to.id} label={`Tier ${i + 1}: to rank`} error={to.error}>
          <input
            id={to.id}
            inputMode="numeric"
            value={tier.to}
            onChange={(e) => onChange({ to: e.target.value })}
            {...invalidProps(to.id, to.error)}
          />
        </Field>
        <button type="button" onClick={onRemove} aria-label={`Remove tier ${i + 1}`}>
          Remove
        </button>
      </div>
      <div className="tier-rewards">
        <RewardRows
          rows={tier.rewards}
          onChange={(rewards) => onChange({ rewards })}
          errors={errors}
          path={`${path}.rewards`}
          idPrefix={`tier-${i}-reward`}
          label={`Tier ${i + 1} reward`}
        />
      </div>
    </fieldset>
  );
}
