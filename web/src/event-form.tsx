import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type FormEvent, useState } from "react";
import type { Event, EventSchema } from "../../gen/liveops/v1/event_pb.js";
import { type AudienceChoices, AudiencePicker } from "./audience-picker.js";
import { ErrorNotice, Field } from "./components.js";
import { fieldErrorsOf, violationsAt } from "./errors.js";
import {
  LeaderboardFields,
  type LeaderboardState,
  leaderboardChanged,
  leaderboardOf,
  leaderboardStateOf,
} from "./leaderboard-fields.js";
import { type RewardRow, RewardsFields, rewardOf, rewardRowsOf } from "./rewards-fields.js";

/** The event a form submits. */
export type EventInit = Exclude<MessageInitShape<typeof EventSchema>, Event>;

// The leaderboard's fields are at the top level, beside the event's own.
interface FormState extends LeaderboardState {
  title: string;
  description: string;
  start: string;
  end: string;
  recurring: boolean;
  rule: string;
  durationMinutes: string;
  rewards: RewardRow[];
  audiences: string[];
  excludedAudiences: string[];
}

/** A `datetime-local` value (the viewer's time zone, to the second) of a time. */
function toLocalInput(date: Date | undefined): string {
  if (!date) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}

function stateOf(event: Event | undefined): FormState {
  return {
    title: event?.title ?? "",
    description: event?.description ?? "",
    start: toLocalInput(event?.startTime && timestampDate(event.startTime)),
    end: toLocalInput(event?.endTime && timestampDate(event.endTime)),
    recurring: event?.recurrence !== undefined,
    rule: event?.recurrence?.rule ?? "FREQ=WEEKLY;BYDAY=SA",
    durationMinutes: event?.recurrence?.runDuration ? String(Number(event.recurrence.runDuration.seconds) / 60) : "120",
    rewards: rewardRowsOf(event?.rewards ?? []),
    ...leaderboardStateOf(event?.leaderboard),
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
    rewards: state.rewards.map(rewardOf),
    recurrence: state.recurring
      ? { rule: state.rule, runDuration: { seconds: BigInt(Math.round(Number(state.durationMinutes) * 60) || 0) } }
      : undefined,
    leaderboard: leaderboardOf(state),
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
  if (leaderboardChanged(before, after)) fields.push("leaderboard");
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
      <RewardsFields rewards={state.rewards} onChange={(rewards) => set("rewards", rewards)} errors={errors} />
      <LeaderboardFields value={state} onChange={(patch) => setState((s) => ({ ...s, ...patch }))} errors={errors} />
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
