import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type FormEvent, useState } from "react";
import { type Event, type EventSchema, LeaderboardOrder, ScoreOperator } from "../../gen/liveops/v1/event_pb.js";
import { type AudienceChoices, AudiencePicker } from "./audience-picker.js";
import { ErrorNotice, Field } from "./components.js";
import { fieldErrorsOf, violationsAt } from "./errors.js";

/** The event a form submits. */
export type EventInit = Exclude<MessageInitShape<typeof EventSchema>, Event>;

interface RewardRow {
  id: string;
  name: string;
  quantity: string;
}
interface TierRow extends RewardRow {
  from: string;
  to: string;
}
interface FormState {
  title: string;
  description: string;
  start: string;
  end: string;
  recurring: boolean;
  rule: string;
  durationMinutes: string;
  rewards: RewardRow[];
  hasLeaderboard: boolean;
  order: LeaderboardOrder;
  operator: ScoreOperator;
  joinRequired: boolean;
  maxParticipants: string;
  maxSubmissions: string;
  tiers: TierRow[];
  audiences: string[];
  excludedAudiences: string[];
}

/** A `datetime-local` value (the viewer's time zone, to the second) of a time. */
function toLocalInput(date: Date | undefined): string {
  if (!date) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}

const quantity = (q: string) => (/^\d+$/.test(q.trim()) ? BigInt(q.trim()) : 0n);
const integer = (n: string) => (/^-?\d+$/.test(n.trim()) ? Number(n.trim()) : -1);

function stateOf(event: Event | undefined): FormState {
  const board = event?.leaderboard;
  return {
    title: event?.title ?? "",
    description: event?.description ?? "",
    start: toLocalInput(event?.startTime && timestampDate(event.startTime)),
    end: toLocalInput(event?.endTime && timestampDate(event.endTime)),
    recurring: event?.recurrence !== undefined,
    rule: event?.recurrence?.rule ?? "FREQ=WEEKLY;BYDAY=SA",
    durationMinutes: event?.recurrence?.runDuration ? String(Number(event.recurrence.runDuration.seconds) / 60) : "120",
    rewards: (event?.rewards ?? []).map((r) => ({ id: r.id, name: r.name, quantity: r.quantity.toString() })),
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
    audiences: [...(event?.audiences ?? [])],
    excludedAudiences: [...(event?.excludedAudiences ?? [])],
  };
}

function eventOf(state: FormState): EventInit {
  return {
    title: state.title,
    description: state.description,
    startTime: state.start ? timestampFromDate(new Date(state.start)) : undefined,
    endTime: state.end ? timestampFromDate(new Date(state.end)) : undefined,
    rewards: state.rewards.map((r) => ({ id: r.id.trim(), name: r.name, quantity: quantity(r.quantity) })),
    recurrence: state.recurring
      ? { rule: state.rule, runDuration: { seconds: BigInt(Math.round(Number(state.durationMinutes) * 60) || 0) } }
      : undefined,
    leaderboard: state.hasLeaderboard
      ? {
          order: state.order,
          scoreOperator: state.operator,
          joinRequired: state.joinRequired,
          maxParticipants: integer(state.maxParticipants),
          maxSubmissions: integer(state.maxSubmissions),
          prizeTiers: state.tiers.map((t) => ({
            rankFrom: integer(t.from),
            rankTo: integer(t.to),
            rewards: [{ id: t.id.trim(), name: t.name, quantity: quantity(t.quantity) }],
          })),
        }
      : undefined,
    audiences: state.audiences,
    excludedAudiences: state.excludedAudiences,
  };
}

/** The update mask of an edit: the fields whose form value changed. */
function changedFields(before: FormState, after: FormState): string[] {
  const fields: string[] = [];
  if (before.title !== after.title) fields.push("title");
  if (before.description !== after.description) fields.push("description");
  if (before.start !== after.start) fields.push("start_time");
  if (before.end !== after.end) fields.push("end_time");
  if (JSON.stringify(before.rewards) !== JSON.stringify(after.rewards)) fields.push("rewards");
  if (
    before.recurring !== after.recurring ||
    before.rule !== after.rule ||
    before.durationMinutes !== after.durationMinutes
  ) {
    fields.push("recurrence");
  }
  const board = (s: FormState) =>
    JSON.stringify([
      s.hasLeaderboard,
      s.order,
      s.operator,
      s.joinRequired,
      s.maxParticipants,
      s.maxSubmissions,
      s.tiers,
    ]);
  if (board(before) !== board(after)) fields.push("leaderboard");
  const names = (list: string[]) => [...list].sort().join("\n");
  if (names(before.audiences) !== names(after.audiences)) fields.push("audiences");
  if (names(before.excludedAudiences) !== names(after.excludedAudiences)) fields.push("excluded_audiences");
  return fields;
}

/**
 * Creates or edits an event: one-off or recurring, the audiences it is for, rewards, a leaderboard with prize tiers.
 * The server checks every field; its violations are shown next to the fields they name.
 */
export function EventForm({
  initial,
  onSubmit,
  onCancel,
  audienceChoices,
}: {
  initial?: Event;
  /** The audiences the pickers offer (ListAudiences). */
  audienceChoices?: AudienceChoices;
  /** Sends the event; `paths` is the update mask of an edit (undefined when creating). */
  onSubmit: (event: EventInit, paths: string[] | undefined) => Promise<unknown>;
  onCancel: () => void;
}) {
  const [original] = useState(() => stateOf(initial));
  const [state, setState] = useState(original);
  const [errors, setErrors] = useState(new Map<string, string>());
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  // The audience names last sent, which the violations' indexes (audiences[1]) refer to.
  const [sent, setSent] = useState<Pick<FormState, "audiences" | "excludedAudiences">>(original);
  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => setState((s) => ({ ...s, [key]: value }));
  const errorOf = (field: string) => errors.get(field);
  const errorsUnder = (prefix: string) =>
    [...errors.entries()]
      .filter(([f]) => f.startsWith(prefix))
      .map(([f, d]) => `${f.slice(prefix.length) || prefix}: ${d}`);
  const shown = (f: string) =>
    ["title", "description", "start_time", "end_time", "recurrence.rule", "recurrence.run_duration"].includes(f) ||
    f.startsWith("rewards") ||
    f.startsWith("leaderboard") ||
    f.startsWith("audiences") ||
    f.startsWith("excluded_audiences");

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors(new Map());
    setFailure(undefined);
    setSent(state);
    try {
      await onSubmit(eventOf(state), initial ? changedFields(original, state) : undefined);
    } catch (err) {
      const fieldErrors = fieldErrorsOf(err);
      setErrors(fieldErrors);
      if (fieldErrors.size === 0 || [...fieldErrors.keys()].some((f) => !shown(f))) setFailure(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} aria-label={initial ? "Edit event" : "Create event"} noValidate>
      <h2>{initial ? `Edit “${initial.title}”` : "New event"}</h2>
      <ErrorNotice error={failure} />
      <Field id="title" label="Title" error={errorOf("title")}>
        <input
          id="title"
          value={state.title}
          onChange={(e) => set("title", e.target.value)}
          aria-invalid={!!errorOf("title")}
        />
      </Field>
      <Field id="description" label="Description" error={errorOf("description")}>
        <textarea id="description" value={state.description} onChange={(e) => set("description", e.target.value)} />
      </Field>
      <div className="row">
        <Field id="start" label="Start (your time zone)" error={errorOf("start_time")}>
          <input
            id="start"
            type="datetime-local"
            step="1"
            value={state.start}
            onChange={(e) => set("start", e.target.value)}
            aria-invalid={!!errorOf("start_time")}
          />
        </Field>
        <Field
          id="end"
          label={state.recurring ? "End of the series (optional)" : "End (your time zone)"}
          error={errorOf("end_time")}
        >
          <input
            id="end"
            type="datetime-local"
            step="1"
            value={state.end}
            onChange={(e) => set("end", e.target.value)}
            aria-invalid={!!errorOf("end_time")}
          />
        </Field>
      </div>
      <fieldset>
        <legend>Schedule</legend>
        <label className="inline">
          <input type="checkbox" checked={state.recurring} onChange={(e) => set("recurring", e.target.checked)} />{" "}
          Recurring
        </label>
        {state.recurring && (
          <div className="row">
            <Field
              id="rule"
              label="Recurrence rule (RFC 5545, UTC)"
              error={errorOf("recurrence.rule")}
              hint="e.g. FREQ=WEEKLY;BYDAY=SA;BYHOUR=18"
            >
              <input id="rule" value={state.rule} onChange={(e) => set("rule", e.target.value)} />
            </Field>
            <Field id="duration" label="Run duration (minutes)" error={errorOf("recurrence.run_duration")}>
              <input
                id="duration"
                inputMode="numeric"
                value={state.durationMinutes}
                onChange={(e) => set("durationMinutes", e.target.value)}
              />
            </Field>
          </div>
        )}
      </fieldset>
      <fieldset>
        <legend>Audiences</legend>
        <div className="row">
          <AudiencePicker
            id="audiences"
            legend="For audiences"
            hint="Players in any of these see the event; none ticked: every player."
            choices={audienceChoices}
            selected={state.audiences}
            onChange={(names) => set("audiences", names)}
            error={violationsAt(errors, "audiences", sent.audiences)}
          />
          <AudiencePicker
            id="excluded-audiences"
            legend="Excluded audiences"
            hint="Players in any of these never see the event."
            choices={audienceChoices}
            selected={state.excludedAudiences}
            onChange={(names) => set("excludedAudiences", names)}
            error={violationsAt(errors, "excluded_audiences", sent.excludedAudiences)}
          />
        </div>
      </fieldset>
      <fieldset>
        <legend>Rewards</legend>
        {state.rewards.map((reward, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place; their position is their identity
          <div className="row" key={i}>
            <Field id={`reward-${i}-id`} label={`Reward ${i + 1} id`} error={errorOf(`rewards[${i}].id`)}>
              <input
                id={`reward-${i}-id`}
                value={reward.id}
                onChange={(e) =>
                  set(
                    "rewards",
                    state.rewards.map((r, k) => (k === i ? { ...r, id: e.target.value } : r)),
                  )
                }
              />
            </Field>
            <Field id={`reward-${i}-name`} label={`Reward ${i + 1} name`} error={errorOf(`rewards[${i}].name`)}>
              <input
                id={`reward-${i}-name`}
                value={reward.name}
                onChange={(e) =>
                  set(
                    "rewards",
                    state.rewards.map((r, k) => (k === i ? { ...r, name: e.target.value } : r)),
                  )
                }
              />
            </Field>
            <Field
              id={`reward-${i}-quantity`}
              label={`Reward ${i + 1} quantity`}
              error={errorOf(`rewards[${i}].quantity`)}
            >
              <input
                id={`reward-${i}-quantity`}
                inputMode="numeric"
                value={reward.quantity}
                onChange={(e) =>
                  set(
                    "rewards",
                    state.rewards.map((r, k) => (k === i ? { ...r, quantity: e.target.value } : r)),
                  )
                }
              />
            </Field>
            <button
              type="button"
              onClick={() =>
                set(
                  "rewards",
                  state.rewards.filter((_, k) => k !== i),
                )
              }
              aria-label={`Remove reward ${i + 1}`}
            >
              Remove
            </button>
          </div>
        ))}
        {errorOf("rewards") && (
          <small className="field-error" role="alert">
            {errorOf("rewards")}
          </small>
        )}
        <button type="button" onClick={() => set("rewards", [...state.rewards, { id: "", name: "", quantity: "1" }])}>
          Add reward
        </button>
      </fieldset>
      <fieldset>
        <legend>Leaderboard</legend>
        <label className="inline">
          <input
            type="checkbox"
            checked={state.hasLeaderboard}
            onChange={(e) => set("hasLeaderboard", e.target.checked)}
          />{" "}
          Players compete on a leaderboard
        </label>
        {state.hasLeaderboard && (
          <>
            <div className="row">
              <Field id="order" label="Ranking" error={errorOf("leaderboard.order")}>
                <select id="order" value={state.order} onChange={(e) => set("order", Number(e.target.value))}>
                  <option value={LeaderboardOrder.HIGHER_FIRST}>Higher scores first</option>
                  <option value={LeaderboardOrder.LOWER_FIRST}>Lower scores first</option>
                </select>
              </Field>
              <Field id="operator" label="Score operator" error={errorOf("leaderboard.score_operator")}>
                <select id="operator" value={state.operator} onChange={(e) => set("operator", Number(e.target.value))}>
                  <option value={ScoreOperator.BEST}>Keep the best</option>
                  <option value={ScoreOperator.SET}>Replace</option>
                  <option value={ScoreOperator.INCR}>Add</option>
                  <option value={ScoreOperator.DECR}>Subtract</option>
                </select>
              </Field>
              <Field
                id="max-participants"
                label="Max participants (0: no limit)"
                error={errorOf("leaderboard.max_participants")}
              >
                <input
                  id="max-participants"
                  inputMode="numeric"
                  value={state.maxParticipants}
                  onChange={(e) => set("maxParticipants", e.target.value)}
                />
              </Field>
              <Field
                id="max-submissions"
                label="Max submissions (0: no limit)"
                error={errorOf("leaderboard.max_submissions")}
              >
                <input
                  id="max-submissions"
                  inputMode="numeric"
                  value={state.maxSubmissions}
                  onChange={(e) => set("maxSubmissions", e.target.value)}
                />
              </Field>
            </div>
            <label className="inline">
              <input
                type="checkbox"
                checked={state.joinRequired}
                onChange={(e) => set("joinRequired", e.target.checked)}
              />{" "}
              Players must join first
            </label>
            <h3>Prize tiers</h3>
            {state.tiers.map((tier, i) => {
              const update = (patch: Partial<TierRow>) =>
                set(
                  "tiers",
                  state.tiers.map((t, k) => (k === i ? { ...t, ...patch } : t)),
                );
              const tierErrors = errorsUnder(`leaderboard.prize_tiers[${i}]`);
              return (
                // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place; their position is their identity
                <div key={i} className="tier">
                  <div className="row">
                    <Field id={`tier-${i}-from`} label={`Tier ${i + 1}: from rank`}>
                      <input
                        id={`tier-${i}-from`}
                        inputMode="numeric"
                        value={tier.from}
                        onChange={(e) => update({ from: e.target.value })}
                      />
                    </Field>
                    <Field id={`tier-${i}-to`} label={`Tier ${i + 1}: to rank`}>
                      <input
                        id={`tier-${i}-to`}
                        inputMode="numeric"
                        value={tier.to}
                        onChange={(e) => update({ to: e.target.value })}
                      />
                    </Field>
                    <Field id={`tier-${i}-reward`} label={`Tier ${i + 1}: reward id`}>
                      <input id={`tier-${i}-reward`} value={tier.id} onChange={(e) => update({ id: e.target.value })} />
                    </Field>
                    <Field id={`tier-${i}-name`} label={`Tier ${i + 1}: reward name`}>
                      <input
                        id={`tier-${i}-name`}
                        value={tier.name}
                        onChange={(e) => update({ name: e.target.value })}
                      />
                    </Field>
                    <Field id={`tier-${i}-quantity`} label={`Tier ${i + 1}: quantity`}>
                      <input
                        id={`tier-${i}-quantity`}
                        inputMode="numeric"
                        value={tier.quantity}
                        onChange={(e) => update({ quantity: e.target.value })}
                      />
                    </Field>
                    <button
                      type="button"
                      onClick={() =>
                        set(
                          "tiers",
                          state.tiers.filter((_, k) => k !== i),
                        )
                      }
                      aria-label={`Remove tier ${i + 1}`}
                    >
                      Remove
                    </button>
                  </div>
                  {tierErrors.map((text) => (
                    <small key={text} className="field-error" role="alert">
                      {text}
                    </small>
                  ))}
                </div>
              );
            })}
            <button
              type="button"
              onClick={() => set("tiers", [...state.tiers, { from: "1", to: "1", id: "", name: "", quantity: "1" }])}
            >
              Add prize tier
            </button>
          </>
        )}
      </fieldset>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Saving…" : initial ? "Save changes" : "Create event"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
