import type { ReactNode } from "react";
import { Field } from "./components.js";
import { invalidProps } from "./errors.js";
import { type Frequency, ORDINALS, type Schedule, WEEKDAY_NAMES, WEEKDAYS, type Weekday } from "./schedule.js";
/** The ids of the builder's inputs, which its errors are keyed by. */
export const SCHEDULE_INPUTS = {
  zone: "schedule-zone",
  startDate: "schedule-start-date",
  startTime: "schedule-start-time",
  endDate: "schedule-end-date",
  endTime: "schedule-end-time",
  frequency: "schedule-frequency",
  interval: "schedule-interval",
  weekdays: "schedule-weekdays",
  monthDay: "schedule-month-day",
  nth: "schedule-nth",
  duration: "schedule-duration-hours",
  count: "schedule-count",
  until: "schedule-until",
  rule: "schedule-rule",
} as const;
const ID = SCHEDULE_INPUTS;

const FREQUENCIES: [Frequency, string, string][] = [
  ["DAILY", "Daily", "days"],
  ["WEEKLY", "Weekly", "weeks"],
  ["MONTHLY", "Monthly", "months"],
  ["CUSTOM", "Advanced (RRULE)", ""],
];

/** A date and a time input side by side, in the schedule's zone. */
export function DateTime({
  label,
  ids: [dateId, timeId],
  values: [date, time],
  onChange,
  errors,
  suffix,
}: {
  label: string;
  ids: [string, string];
  values: [string, string];
  onChange: (date: string, time: string) => void;
  errors: ReadonlyMap<string, string>;
  suffix: ReactNode;
}) {
  return (
    <>
      <Field id={dateId} label={`${label} date`} error={errors.get(dateId)}>
        <input
          id={dateId}
          type="date"
          value={date}
          onChange={(e) => onChange(e.target.value, time)}
          {...invalidProps(dateId, errors.get(dateId))}
        />
      </Field>
      <Field id={timeId} label={`${label} time`} error={errors.get(timeId)}>
        <span className="with-zone">
          <input
            id={timeId}
            type="time"
            step={time.length > 5 ? 1 : 60}
            value={time}
            onChange={(e) => onChange(date, e.target.value)}
            {...invalidProps(timeId, errors.get(timeId))}
          />
          {suffix}
        </span>
      </Field>
    </>
  );
}

/** How a series repeats: frequency, interval, days, time of day and first date (or the advanced rule). */
export function Pattern({
  s,
  set,
  errors,
  zoneSuffix,
}: {
  s: Schedule;
  set: (patch: Partial<Schedule>) => void;
  errors: ReadonlyMap<string, string>;
  zoneSuffix: ReactNode;
}) {
  const unit = FREQUENCIES.find(([f]) => f === s.frequency)?.[2] ?? "";
  const input = (id: string) => invalidProps(id, errors.get(id));
  const toggleDay = (day: Weekday, on: boolean) =>
    set({ weekdays: on ? [...s.weekdays, day] : s.weekdays.filter((d) => d !== day) });
  return (
    <>
      <div className="row">
        <Field id={ID.frequency} label="Repeats" error={errors.get(ID.frequency)}>
          <select
            id={ID.frequency}
            value={s.frequency}
            onChange={(e) => set({ frequency: e.target.value as Frequency })}
            {...input(ID.frequency)}
          >
            {FREQUENCIES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </Field>
        {s.frequency !== "CUSTOM" && (
          <Field id={ID.interval} label={`Every how many ${unit}`} error={errors.get(ID.interval)}>
            <input
              id={ID.interval}
              className="short"
              inputMode="numeric"
              value={s.interval}
              onChange={(e) => set({ interval: e.target.value })}
              {...input(ID.interval)}
            />
          </Field>
        )}
      </div>
      {s.frequency === "CUSTOM" && (
        <Field
          id={ID.rule}
          label="Advanced (RRULE)"
          error={errors.get(ID.rule)}
          hint="An RFC 5545 rule, read in the schedule's time zone from the first run's date and time, e.g. FREQ=WEEKLY;BYDAY=SU;BYHOUR=18;BYMINUTE=0;COUNT=10"
        >
          <input
            id={ID.rule}
            className="code-input"
            value={s.customRule}
            onChange={(e) => set({ customRule: e.target.value })}
            {...input(ID.rule)}
          />
        </Field>
      )}
      {s.frequency === "WEEKLY" && (
        <fieldset
          id={ID.weekdays}
          className={`chips weekdays${errors.get(ID.weekdays) ? " invalid" : ""}`}
          aria-describedby={errors.get(ID.weekdays) ? `${ID.weekdays}-error` : undefined}
        >
          <legend>On these days</legend>
          {WEEKDAYS.map((day) => (
            <label key={day} className="chip">
              <input
                type="checkbox"
                aria-label={WEEKDAY_NAMES[day]}
                checked={s.weekdays.includes(day)}
                onChange={(e) => toggleDay(day, e.target.checked)}
              />
              {WEEKDAY_NAMES[day].slice(0, 3)}
            </label>
          ))}
          {errors.get(ID.weekdays) && (
            <small className="field-error" id={`${ID.weekdays}-error`} role="alert">
              {errors.get(ID.weekdays)}
            </small>
          )}
        </fieldset>
      )}
      {s.frequency === "MONTHLY" && <MonthlyPicker s={s} set={set} />}
      <div className="row">
        <Field id={ID.startDate} label="First run on or after" error={errors.get(ID.startDate)}>
          <input
            id={ID.startDate}
            type="date"
            value={s.startDate}
            onChange={(e) => set({ startDate: e.target.value })}
            {...input(ID.startDate)}
          />
        </Field>
        <Field id={ID.startTime} label="Time of day" error={errors.get(ID.startTime)}>
          <span className="with-zone">
            <input
              id={ID.startTime}
              type="time"
              step={s.startTime.length > 5 ? 1 : 60}
              value={s.startTime}
              onChange={(e) => set({ startTime: e.target.value })}
              {...input(ID.startTime)}
            />
            {zoneSuffix}
          </span>
        </Field>
      </div>
    </>
  );
}

/** Monthly on a day of the month, or on the first/second/…/last weekday. */
function MonthlyPicker({ s, set }: { s: Schedule; set: (patch: Partial<Schedule>) => void }) {
  const days = Array.from({ length: 31 }, (_, i) => String(i + 1));
  return (
    <fieldset className="chips monthly">
      <legend>Which day of the month</legend>
      <div className="monthly-choice">
        <label className="inline">
          <input type="radio" name="monthly" checked={s.monthly === "day"} onChange={() => set({ monthly: "day" })} />
          On day
        </label>
        <select
          id={ID.monthDay}
          aria-label="Day of the month"
          value={s.monthDay}
          disabled={s.monthly !== "day"}
          onChange={(e) => set({ monthDay: e.target.value })}
        >
          {days.map((d) => (
            <option key={d} value={d}>
              {d}
            </option>
          ))}
          <option value="-1">the last day</option>
        </select>
        {Number(s.monthDay) > 28 && s.monthly === "day" && (
          <small className="muted">Months without day {s.monthDay} have no run.</small>
        )}
      </div>
      <div className="monthly-choice">
        <label className="inline">
          <input
            type="radio"
            name="monthly"
            checked={s.monthly === "weekday"}
            onChange={() => set({ monthly: "weekday" })}
          />
          On the
        </label>
        <select
          id={ID.nth}
          aria-label="Which week"
          value={s.nth}
          disabled={s.monthly !== "weekday"}
          onChange={(e) => set({ nth: e.target.value })}
        >
          {Object.entries(ORDINALS).map(([n, words]) => (
            <option key={n} value={n}>
              {words}
            </option>
          ))}
        </select>
        <select
          aria-label="Weekday"
          value={s.nthWeekday}
          disabled={s.monthly !== "weekday"}
          onChange={(e) => set({ nthWeekday: e.target.value as Weekday })}
        >
          {WEEKDAYS.map((d) => (
            <option key={d} value={d}>
              {WEEKDAY_NAMES[d]}
            </option>
          ))}
        </select>
      </div>
    </fieldset>
  );
}

/** How long each run lasts: days, hours and minutes. */
export function Duration({
  s,
  set,
  error,
}: {
  s: Schedule;
  set: (patch: Partial<Schedule>) => void;
  error: string | undefined;
}) {
  const parts: [keyof Schedule, string, string][] = [
    ["durationDays", "Days", "schedule-duration-days"],
    ["durationHours", "Hours", ID.duration],
    ["durationMinutes", "Minutes", "schedule-duration-minutes"],
  ];
  return (
    <fieldset
      className={`chips duration${error ? " invalid" : ""}`}
      aria-describedby={error ? `${ID.duration}-error` : undefined}
    >
      <legend>Each run lasts</legend>
      {parts.map(([key, label, id]) => (
        <span key={id} className="duration-part">
          <input
            id={id}
            className="short"
            inputMode="numeric"
            value={s[key] as string}
            onChange={(e) => set({ [key]: e.target.value })}
            aria-invalid={error ? true : undefined}
          />
          <label htmlFor={id}>{label}</label>
        </span>
      ))}
      {error && (
        <small className="field-error" id={`${ID.duration}-error`} role="alert">
          {error}
        </small>
      )}
    </fieldset>
  );
}

/** When the series ends: never, after a number of runs, or on a date. */
export function Ends({
  s,
  set,
  errors,
}: {
  s: Schedule;
  set: (patch: Partial<Schedule>) => void;
  errors: ReadonlyMap<string, string>;
}) {
  return (
    <fieldset className="chips ends">
      <legend>Ends</legend>
      <label className="inline">
        <input type="radio" name="schedule-ends" checked={s.ends === "never"} onChange={() => set({ ends: "never" })} />
        Never
      </label>
      <span className="ends-choice">
        <label className="inline">
          <input
            type="radio"
            name="schedule-ends"
            checked={s.ends === "count"}
            onChange={() => set({ ends: "count" })}
          />
          After
        </label>
        <Field id={ID.count} label="Number of runs" error={errors.get(ID.count)}>
          <input
            id={ID.count}
            className="short"
            inputMode="numeric"
            value={s.count}
            disabled={s.ends !== "count"}
            onChange={(e) => set({ count: e.target.value })}
            {...invalidProps(ID.count, errors.get(ID.count))}
          />
        </Field>
      </span>
      <span className="ends-choice">
        <label className="inline">
          <input
            type="radio"
            name="schedule-ends"
            checked={s.ends === "until"}
            onChange={() => set({ ends: "until", untilDate: s.untilDate || s.startDate })}
          />
          On
        </label>
        <Field id={ID.until} label="Last date" error={errors.get(ID.until)}>
          <input
            id={ID.until}
            type="date"
            value={s.untilDate}
            disabled={s.ends !== "until"}
            onChange={(e) => set({ untilDate: e.target.value })}
            {...invalidProps(ID.until, errors.get(ID.until))}
          />
        </Field>
      </span>
    </fieldset>
  );
}
