import { CalendarClock, Globe, Lock } from "lucide-react";
import { useId, useMemo } from "react";
import { Field } from "./components.js";
import { invalidProps } from "./errors.js";
import { browserTimeZone, type Schedule, timeZoneChoices } from "./schedule.js";
import { DateTime, Duration, Ends, Pattern, SCHEDULE_INPUTS } from "./schedule-pickers.js";
import { describeSchedule, previewSchedule } from "./schedule-words.js";
import "./schedule-builder.css";

export { SCHEDULE_INPUTS } from "./schedule-pickers.js";

const ID = SCHEDULE_INPUTS;

/** Why parts of a schedule cannot change (the event has started, a run is live, it has ended). */
export interface ScheduleLocks {
  /** Locks the first start: once or repeating, the zone, the dates and time, and the days it repeats on. */
  start?: string | undefined;
  /** Locks the rest of the recurrence: the run duration and the end of the series. */
  rule?: string | undefined;
  /** Locks a one-off event's end. */
  end?: string | undefined;
}

const whole = (text: string, min: number) => /^\d+$/.test(text.trim()) && Number(text) >= min;

/**
 * What the builder itself can tell is wrong, by input id: what it needs to compute the schedule's fields. The rest
 * (an end before the start, overlapping runs, a rule's form) is the server's to say.
 */
export function scheduleProblems(s: Schedule): Map<string, string> {
  const problems = new Map<string, string>();
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s.startDate)) problems.set(ID.startDate, "is required");
  if (!/^\d{2}:\d{2}/.test(s.startTime)) problems.set(ID.startTime, "is required");
  if (!s.repeats) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(s.endDate)) problems.set(ID.endDate, "is required");
    if (!/^\d{2}:\d{2}/.test(s.endTime)) problems.set(ID.endTime, "is required");
    return problems;
  }
  if (s.frequency === "CUSTOM") {
    if (s.customRule.trim() === "") problems.set(ID.rule, "is required");
  } else if (!whole(s.interval, 1)) problems.set(ID.interval, "must be a whole number, 1 or more");
  if (s.frequency === "WEEKLY" && s.weekdays.length === 0) problems.set(ID.weekdays, "pick at least one day");
  const duration = [s.durationDays, s.durationHours, s.durationMinutes];
  if (!duration.every((t) => t.trim() === "" || whole(t, 0))) problems.set(ID.duration, "must be whole numbers");
  else if (duration.every((t) => Number(t) === 0)) problems.set(ID.duration, "must be longer than zero");
  if (s.frequency !== "CUSTOM" && s.ends === "count" && !whole(s.count, 1)) {
    problems.set(ID.count, "must be a whole number, 1 or more");
  }
  if (s.frequency !== "CUSTOM" && s.ends === "until" && !/^\d{4}-\d{2}-\d{2}$/.test(s.untilDate)) {
    problems.set(ID.until, "is required");
  }
  return problems;
}

/**
 * The server's violations of the schedule's fields (by path: start_time, recurrence.rule…) on the builder's inputs:
 * the errors by input id, and the paths placed so.
 */
export function scheduleErrorsByInput(
  errors: ReadonlyMap<string, string>,
  s: Schedule,
): { byInput: Map<string, string>; placed: Set<string> } {
  const byInput = new Map<string, string>();
  const placed = new Set<string>();
  const place = (path: string, input: string | undefined) => {
    const text = errors.get(path);
    if (text === undefined || input === undefined) return;
    byInput.set(input, byInput.has(input) ? `${byInput.get(input)}; ${text}` : text);
    placed.add(path);
  };
  const custom = s.repeats && s.frequency === "CUSTOM";
  place("start_time", ID.startDate);
  place("end_time", s.repeats ? (s.ends === "until" && !custom ? ID.until : undefined) : ID.endDate);
  place("recurrence.time_zone", ID.zone);
  place("recurrence.run_duration", s.repeats ? ID.duration : undefined);
  const ruleText = errors.get("recurrence.rule") ?? "";
  const aboutEnd = /COUNT|UNTIL|before its end/.test(ruleText) && !custom && s.ends !== "never";
  place("recurrence.rule", custom ? ID.rule : aboutEnd ? (s.ends === "count" ? ID.count : ID.until) : ID.frequency);
  place("recurrence", s.repeats ? (custom ? ID.rule : ID.frequency) : ID.startDate);
  return { byInput, placed };
}

/**
 * "When" of the event form: once (a start and an end) or repeating daily, weekly or monthly, with a time of day, a
 * duration and an end; one time zone for every date and time it shows or takes, named on screen; the schedule in
 * words and its next runs, in the schedule's zone and the viewer's.
 */
export function ScheduleBuilder({
  value: s,
  onChange,
  errors,
  locks = {},
  viewerZone = browserTimeZone(),
}: {
  value: Schedule;
  onChange: (schedule: Schedule) => void;
  /** Errors by input id ({@link SCHEDULE_INPUTS}). */
  errors: ReadonlyMap<string, string>;
  locks?: ScheduleLocks;
  viewerZone?: string;
}) {
  const set = (patch: Partial<Schedule>) => onChange({ ...s, ...patch });
  const reasonId = useId();
  const zones = useMemo(() => timeZoneChoices(s.zone), [s.zone]);
  const words = useMemo(() => describeSchedule(s), [s]);
  const preview = useMemo(() => previewSchedule(s, viewerZone), [s, viewerZone]);
  const lockedBy = (reason: string | undefined) =>
    reason ? { disabled: true, "aria-describedby": reasonId } : { disabled: false };
  const reasons = [...new Set([locks.start, locks.rule, locks.end].filter((r): r is string => !!r))];
  const input = (id: string) => invalidProps(id, errors.get(id));
  const zoneSuffix = <span className="zone-suffix">{s.zone}</span>;
  return (
    <fieldset className="schedule-builder">
      <legend>When</legend>
      {reasons.length > 0 && (
        <div id={reasonId} className="lock-reason">
          {reasons.map((reason) => (
            <p key={reason}>
              <Lock className="icon" aria-hidden /> {reason}
            </p>
          ))}
        </div>
      )}
      <fieldset className="schedule-group" {...lockedBy(locks.start)}>
        <div className="row">
          <fieldset className="chips happens">
            <legend>Happens</legend>
            <label className="chip">
              <input type="radio" name="schedule-kind" checked={!s.repeats} onChange={() => set({ repeats: false })} />
              Once
            </label>
            <label className="chip">
              <input type="radio" name="schedule-kind" checked={s.repeats} onChange={() => set({ repeats: true })} />
              Repeatedly
            </label>
          </fieldset>
          <Field id={ID.zone} label="Time zone" error={errors.get(ID.zone)}>
            <select id={ID.zone} value={s.zone} onChange={(e) => set({ zone: e.target.value })} {...input(ID.zone)}>
              {zones.map((zone) => (
                <option key={zone} value={zone}>
                  {zone === viewerZone ? `${zone} (your time zone)` : zone}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <p className="zone-note">
          <Globe className="icon" aria-hidden /> Every date and time of this schedule is in <strong>{s.zone}</strong>
          {s.zone === viewerZone ? " (your time zone)." : `; yours is ${viewerZone}.`}
        </p>
        {s.repeats ? (
          <Pattern s={s} set={set} errors={errors} zoneSuffix={zoneSuffix} />
        ) : (
          <div className="row">
            <DateTime
              label="Start"
              ids={[ID.startDate, ID.startTime]}
              values={[s.startDate, s.startTime]}
              onChange={(startDate, startTime) => set({ startDate, startTime })}
              errors={errors}
              suffix={zoneSuffix}
            />
          </div>
        )}
      </fieldset>
      {!s.repeats && (
        <fieldset className="schedule-group" {...lockedBy(locks.end)}>
          <div className="row">
            <DateTime
              label="End"
              ids={[ID.endDate, ID.endTime]}
              values={[s.endDate, s.endTime]}
              onChange={(endDate, endTime) => set({ endDate, endTime })}
              errors={errors}
              suffix={zoneSuffix}
            />
          </div>
        </fieldset>
      )}
      {s.repeats && (
        <fieldset className="schedule-group" {...lockedBy(locks.rule)}>
          <Duration s={s} set={set} error={errors.get(ID.duration)} />
          {s.frequency !== "CUSTOM" && <Ends s={s} set={set} errors={errors} />}
        </fieldset>
      )}
      <div className="schedule-summary">
        <p className="schedule-words" aria-live="polite">
          <CalendarClock className="icon" aria-hidden /> {words}
        </p>
        <SchedulePreview preview={preview} repeats={s.repeats} />
      </div>
    </fieldset>
  );
}

/** The next runs, in the schedule's zone and (when another) the viewer's. */
function SchedulePreview({ preview, repeats }: { preview: ReturnType<typeof previewSchedule>; repeats: boolean }) {
  const headingId = useId();
  return (
    <section className="schedule-preview" aria-labelledby={headingId}>
      <h4 id={headingId}>{repeats ? "Next runs" : "The run"}</h4>
      {preview.notes.map((note) => (
        <p key={note} className="muted">
          {note}
        </p>
      ))}
      {preview.runs.length > 0 && (
        <ol>
          {preview.runs.map((run) => (
            <li key={run.start} data-start={new Date(run.start).toISOString()}>
              <span className="run-time">{run.inZone}</span>
              {run.inViewerZone && <span className="muted"> · {run.inViewerZone} (your time)</span>}
              {run.note && <small className="run-note">{run.note}</small>}
            </li>
          ))}
        </ol>
      )}
      {preview.runs.length === 0 && preview.notes.length === 0 && (
        <p className="muted">Give the dates and times to see {repeats ? "the runs" : "the run"}.</p>
      )}
    </section>
  );
}
