import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Lock } from "lucide-react";
import { type FormEvent, useEffect, useRef, useState } from "react";
import { type Event, type EventSchema, EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { type AudienceChoices, AudiencePicker } from "./audience-picker.js";
import { Field } from "./components.js";
import { describeEventError, eventFieldErrors, eventFieldLabel, invalidProps, violationsAt } from "./errors.js";
import {
  LeaderboardFields,
  type LeaderboardState,
  leaderboardChanged,
  leaderboardOf,
  leaderboardShows,
  leaderboardStateOf,
} from "./leaderboard-fields.js";
import { type RewardRow, RewardsFields, rewardOf, rewardRowsOf, rewardRowsShow } from "./rewards-fields.js";
import { browserTimeZone, type Schedule, scheduleFields, scheduleOf } from "./schedule.js";
import { ScheduleBuilder, type ScheduleLocks, scheduleErrorsByInput, scheduleProblems } from "./schedule-builder.js";

/** The event a form submits. */
export type EventInit = Exclude<MessageInitShape<typeof EventSchema>, Event>;

// The leaderboard's fields are at the top level, beside the event's own.
interface FormState extends LeaderboardState {
  title: string;
  description: string;
  schedule: Schedule;
  rewards: RewardRow[];
  audiences: string[];
  excludedAudiences: string[];
}

function stateOf(event: Event | undefined): FormState {
  const recurrence = event?.recurrence;
  return {
    title: event?.title ?? "",
    description: event?.description ?? "",
    schedule: scheduleOf(
      {
        startMs: event?.startTime && timestampMs(event.startTime),
        endMs: event?.endTime && timestampMs(event.endTime),
        recurrence: recurrence && {
          rule: recurrence.rule,
          runDurationSeconds: Number(recurrence.runDuration?.seconds ?? 0n),
          timeZone: recurrence.timeZone,
        },
      },
      browserTimeZone(),
    ),
    rewards: rewardRowsOf(event?.rewards ?? []),
    ...leaderboardStateOf(event?.leaderboard),
    audiences: [...(event?.audiences ?? [])],
    excludedAudiences: [...(event?.excludedAudiences ?? [])],
  };
}

/**
 * The event a form's state sends. A start or end the schedule did not change is sent as the event had it (a time
 * read back into the pickers could land on another instant: the later of two 02:30s, milliseconds).
 */
function eventOf(state: FormState, original: FormState, initial: Event | undefined): EventInit {
  const now = scheduleFields(state.schedule);
  const before = scheduleFields(original.schedule);
  const time = (ms: number | undefined, was: number | undefined, kept: Event["startTime"]) =>
    ms === undefined ? undefined : ms === was && kept ? kept : timestampFromMs(ms);
  return {
    title: state.title,
    description: state.description,
    startTime: time(now.startMs, before.startMs, initial?.startTime),
    endTime: time(now.endMs, before.endMs, initial?.endTime),
    rewards: state.rewards.map(rewardOf),
    recurrence: now.recurrence && {
      rule: now.recurrence.rule,
      runDuration: { seconds: BigInt(now.recurrence.runDurationSeconds) },
      timeZone: now.recurrence.timeZone,
    },
    leaderboard: leaderboardOf(state),
    audiences: state.audiences,
    excludedAudiences: state.excludedAudiences,
  };
}

/** The update mask of an edit: the fields whose form value changed. */
function changedFields(before: FormState, after: FormState): string[] {
  const fields: string[] = [];
  const [was, is] = [scheduleFields(before.schedule), scheduleFields(after.schedule)];
  if (before.title !== after.title) fields.push("title");
  if (before.description !== after.description) fields.push("description");
  if (was.startMs !== is.startMs) fields.push("start_time");
  if (was.endMs !== is.endMs) fields.push("end_time");
  if (JSON.stringify(before.rewards) !== JSON.stringify(after.rewards)) fields.push("rewards");
  if (JSON.stringify(was.recurrence) !== JSON.stringify(is.recurrence)) fields.push("recurrence");
  if (leaderboardChanged(before, after)) fields.push("leaderboard");
  const names = (list: string[]) => [...list].sort().join("\n");
  if (names(before.audiences) !== names(after.audiences)) fields.push("audiences");
  if (names(before.excludedAudiences) !== names(after.excludedAudiences)) fields.push("excluded_audiences");
  return fields;
}

/** What cannot change in an event now, and why (the server's rules: event-admin-service.ts checkScheduleChange). */
interface Locks {
  schedule: ScheduleLocks;
  leaderboard?: string;
  /** What can still change, for an event that has ended. */
  note?: string;
}

/** The parts of `event` the server refuses to change in its current state, each with the reason. */
export function locksOf(event: Event | undefined): Locks {
  if (!event) return { schedule: {} };
  if (event.status === EventStatus.ENDED) {
    const ended = "Locked: the event has ended, and its runs and results stay as they were.";
    return {
      schedule: { start: ended, rule: ended, end: ended },
      leaderboard: ended,
      note: "This event has ended. You can still change its title, description, rewards and audiences; its schedule and leaderboard stay as they were.",
    };
  }
  const live = event.currentRun !== undefined || event.status === EventStatus.ACTIVE;
  if (live) {
    return {
      schedule: {
        start: "Locked while the event is live: its first run has already started.",
        rule: event.recurrence
          ? "Locked while a run is live: changing the schedule would move a run players are already playing."
          : undefined,
      },
      leaderboard: "Locked while the event is live: changing it would change the scores already submitted.",
    };
  }
  if (event.status === EventStatus.BETWEEN_RUNS) {
    return {
      schedule: {
        start:
          "Locked once the event has started: its first run has happened, and the days it repeats on follow from it. The run length and the end can change.",
      },
    };
  }
  return { schedule: {} };
}

/**
 * Creates or edits an event: once or repeating (the schedule builder), the audiences it is for, rewards, a
 * leaderboard with prize tiers. The server checks every field; each violation is shown on the input it names, in
 * the form's words, and what names no input is listed at the top. A live or ended event's locked fields are
 * disabled, saying why.
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
  /** The server's violations by field path, in the form's words. */
  const [errors, setErrors] = useState(new Map<string, string>());
  /** What the schedule builder found wrong before sending, by input id. */
  const [problems, setProblems] = useState(new Map<string, string>());
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [focusInvalid, setFocusInvalid] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);
  // The audience names last sent, which the violations' indexes (audiences[1]) refer to.
  const [sent, setSent] = useState<Pick<FormState, "audiences" | "excludedAudiences">>(original);
  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => setState((s) => ({ ...s, [key]: value }));
  const locks = locksOf(initial);

  const schedule = scheduleErrorsByInput(errors, state.schedule);
  const scheduleErrors = new Map([...schedule.byInput, ...problems]);
  const shown = (path: string) =>
    path === "title" ||
    path === "description" ||
    schedule.placed.has(path) ||
    rewardRowsShow(path, "rewards", state.rewards.length) ||
    leaderboardShows(path, state) ||
    /^(excluded_)?audiences(\[\d+\])?$/.test(path);
  const unplaced = [...errors].filter(([path]) => !shown(path));

  // After a failed submit, the first invalid input (or the list of errors above the form) takes the focus.
  useEffect(() => {
    if (focusInvalid === 0) return;
    const first = formRef.current?.querySelector<HTMLElement>(
      '.form-errors, [aria-invalid="true"]:not(:disabled), [data-invalid]:not(:disabled), .audience-picker.invalid input',
    );
    first?.focus();
  }, [focusInvalid]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setErrors(new Map());
    setFailure(undefined);
    const found = scheduleProblems(state.schedule);
    setProblems(found);
    if (found.size > 0) {
      setFocusInvalid((n) => n + 1);
      return;
    }
    setBusy(true);
    setSent(state);
    try {
      await onSubmit(eventOf(state, original, initial), initial ? changedFields(original, state) : undefined);
    } catch (err) {
      const fieldErrors = eventFieldErrors(err);
      setErrors(fieldErrors);
      if (fieldErrors.size === 0) setFailure(err);
      setFocusInvalid((n) => n + 1);
    } finally {
      setBusy(false);
    }
  }

  const titleError = errors.get("title");
  const descriptionError = errors.get("description");
  return (
    <form
      ref={formRef}
      onSubmit={submit}
      aria-label={initial ? "Edit event" : "Create event"}
      className="event-form"
      noValidate
    >
      <h2>{initial ? `Edit “${initial.title}”` : "New event"}</h2>
      {(failure !== undefined || unplaced.length > 0) && (
        <div className="form-errors error-summary" role="alert" tabIndex={-1}>
          {failure !== undefined && <p>{describeEventError(failure)}</p>}
          {unplaced.length > 0 && (
            <>
              <p>The event was not saved:</p>
              <ul>
                {unplaced.map(([path, text]) => (
                  <li key={path}>
                    {eventFieldLabel(path)}: {text}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
      {locks.note && (
        <p className="lock-reason">
          <Lock className="icon" aria-hidden /> {locks.note}
        </p>
      )}
      <Field id="title" label="Title" error={titleError}>
        <input
          id="title"
          value={state.title}
          onChange={(e) => set("title", e.target.value)}
          {...invalidProps("title", titleError)}
        />
      </Field>
      <Field id="description" label="Description" error={descriptionError}>
        <textarea
          id="description"
          value={state.description}
          onChange={(e) => set("description", e.target.value)}
          {...invalidProps("description", descriptionError)}
        />
      </Field>
      <ScheduleBuilder
        value={state.schedule}
        onChange={(next) => set("schedule", next)}
        errors={scheduleErrors}
        locks={locks.schedule}
      />
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
      <LeaderboardFields
        value={state}
        onChange={(patch) => setState((s) => ({ ...s, ...patch }))}
        errors={errors}
        locked={locks.leaderboard}
      />
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
