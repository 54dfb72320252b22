import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { useTransport } from "@connectrpc/connect-query";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { CalendarDays, CalendarRange, ChevronLeft, ChevronRight } from "lucide-react";
import { useId } from "react";
import type { Event, EventRun } from "../../gen/liveops/v1/event_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { ErrorNotice, formatNumber, Loading, PageHeader } from "./components.js";
import { useHashQuery, viewerTimeZone } from "./events-view.js";
import "./calendar-view.css";

/** What the calendar shows: one week, or the whole weeks that hold a month. */
export type CalendarMode = "month" | "week";

/** The most runs the calendar reads for one window (pages of 500). */
const MAX_RUNS = 5000;

/** Midnight, in the viewer's time zone, `days` days after the day of `date`. */
export function addDays(date: Date, days: number): Date {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate() + days);
}

/** The Monday that starts the week of `date`, at midnight in the viewer's time zone. */
function startOfWeek(date: Date): Date {
  return addDays(date, -((date.getDay() + 6) % 7));
}

/** The days the calendar shows around `anchor`: its week (Monday first), or the whole weeks holding its month. */
export function visibleDays(mode: CalendarMode, anchor: Date): Date[] {
  const first = startOfWeek(mode === "week" ? anchor : new Date(anchor.getFullYear(), anchor.getMonth(), 1));
  const last = mode === "week" ? addDays(first, 6) : new Date(anchor.getFullYear(), anchor.getMonth() + 1, 0);
  const days: Date[] = [];
  for (let day = first; day <= last || days.length % 7 !== 0; day = addDays(day, 1)) days.push(day);
  return days;
}

/** A day as the URL writes it (YYYY-MM-DD, in the viewer's time zone). */
export function dayKey(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The day a URL names (YYYY-MM-DD), or today. */
function dayOf(value: string | null): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value ?? "");
  const today = new Date();
  if (!match) return new Date(today.getFullYear(), today.getMonth(), today.getDate());
  return new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
}

/** The runs of the window and their events. */
interface CalendarRuns {
  runs: EventRun[];
  events: Map<string, Event>;
}

/**
 * Every event's runs that overlap [from, to) (ListEventRuns without an event id, every page), and the events they
 * belong to: one listing of events, then GetEvent for any it did not hold.
 */
function useCalendarRuns(from: Date, to: Date) {
  const transport = useTransport();
  return useQuery({
    queryKey: ["calendar-runs", from.getTime(), to.getTime()],
    placeholderData: keepPreviousData,
    queryFn: async ({ signal }): Promise<CalendarRuns> => {
      const client = createClient(EventService, transport);
      const runs: EventRun[] = [];
      let pageToken = "";
      do {
        const page = await client.listEventRuns(
          {
            eventId: "",
            startTime: timestampFromDate(from),
            endTime: timestampFromDate(to),
            pageSize: 500,
            pageToken,
          },
          { signal },
        );
        runs.push(...page.runs);
        pageToken = page.nextPageToken;
      } while (pageToken && runs.length < MAX_RUNS);
      const wanted = new Set(runs.map((run) => run.eventId));
      const events = new Map<string, Event>();
      if (wanted.size === 0) return { runs, events };
      // Events without an end come first, then the latest to end: those most likely to have runs on screen.
      const listed = await client.listEvents({ pageSize: 500, orderBy: "end_time desc" }, { signal });
      for (const event of listed.events) if (wanted.has(event.id)) events.set(event.id, event);
      await Promise.all(
        [...wanted]
          .filter((id) => !events.has(id))
          .map(async (id) => {
            const found = await client.getEvent({ id }, { signal }).catch(() => undefined);
            if (found?.event) events.set(id, found.event);
          }),
      );
      return { runs, events };
    },
  });
}

const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long" });
const shortDayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short" });
const longWeekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long" });
const monthFormat = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric" });
const rangeFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" });

/** The zone's name and its abbreviation at `date`, e.g. "Europe/Berlin (CEST)"; just "UTC" for UTC. */
function zoneLabel(date: Date): string {
  const zone = viewerTimeZone();
  const short = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
    .formatToParts(date)
    .find((part) => part.type === "timeZoneName")?.value;
  return short && short !== zone ? `${zone} (${short})` : zone;
}

/** A run as the calendar draws it on one day. */
interface Placed {
  run: EventRun;
  start: Date;
  end: Date;
  title: string;
  recurring: boolean;
  live: boolean;
}

/** The runs that overlap [day, next day), by start time. */
function runsOn(placed: Placed[], day: Date): Placed[] {
  const next = addDays(day, 1);
  return placed.filter((p) => p.start < next && p.end > day);
}

/** When a run is, seen from one day: its start ("18:00", or with `detailed` "18:00 – 20:00"), "until" its end, or "all day". */
function timeOnDay(p: Placed, day: Date, detailed: boolean): string {
  const next = addDays(day, 1);
  if (p.start >= day) {
    if (!detailed) return clockFormat.format(p.start);
    const end =
      p.end <= next ? clockFormat.format(p.end) : `${shortDayFormat.format(p.end)}, ${clockFormat.format(p.end)}`;
    return `${clockFormat.format(p.start)} – ${end}`;
  }
  if (p.end < next) return `until ${clockFormat.format(p.end)}`;
  return "all day";
}

/** A run's times in full: "Mon, Jun 1, 18:00 – Mon, Jun 1, 20:00". */
function runRange(p: Placed): string {
  const at = (date: Date) => `${shortDayFormat.format(date)}, ${clockFormat.format(date)}`;
  return `${at(p.start)} – ${at(p.end)}`;
}

/** One run on one day: a link to its event's page, highlighted (and saying so) while live. */
function RunLink({ placed, day, detailed = false }: { placed: Placed; day: Date; detailed?: boolean }) {
  return (
    <a
      href={`#/events/${placed.run.eventId}`}
      className={`calendar-run${placed.live ? " live" : ""}`}
      title={`${placed.title}, ${runRange(placed)}`}
      data-event-id={placed.run.eventId}
      data-run-number={String(placed.run.runNumber)}
    >
      <span className="run-time">{timeOnDay(placed, day, detailed)}</span>{" "}
      <span className="run-title">{placed.title || "Event"}</span>
      {placed.recurring && <span className="run-number"> (run {formatNumber(placed.run.runNumber)})</span>}
      {placed.live && <span className="run-live">Live</span>}
    </a>
  );
}

/** The days of a month, a week per row; days of other months are dimmed, today is marked. */
function MonthGrid({ days, month, placed }: { days: Date[]; month: number; placed: Placed[] }) {
  const today = dayKey(new Date());
  const weeks: Date[][] = [];
  for (let i = 0; i < days.length; i += 7) weeks.push(days.slice(i, i + 7));
  return (
    <table className="calendar-month">
      <thead>
        <tr>
          {(weeks[0] ?? []).map((day) => (
            <th key={day.getDay()} scope="col" abbr={longWeekdayFormat.format(day)}>
              {weekdayFormat.format(day)}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {weeks.map((week) => (
          <tr key={dayKey(week[0] as Date)}>
            {week.map((day) => {
              const runs = runsOn(placed, day);
              const classes = [
                "calendar-day",
                day.getMonth() !== month ? "other-month" : "",
                runs.length === 0 ? "no-runs" : "",
                dayKey(day) === today ? "today" : "",
              ];
              return (
                <td
                  key={dayKey(day)}
                  className={classes.filter(Boolean).join(" ")}
                  aria-current={dayKey(day) === today ? "date" : undefined}
                >
                  <time className="day-number" dateTime={dayKey(day)}>
                    <span className="day-short" aria-hidden>
                      {day.getDate()}
                    </span>
                    <span className="day-long">{dayFormat.format(day)}</span>
                  </time>
                  {runs.length > 0 && (
                    <ul className="calendar-runs">
                      {runs.map((p) => (
                        <li key={`${p.run.eventId}/${p.run.runNumber}`}>
                          <RunLink placed={p} day={day} />
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The seven days of a week side by side (one under another on narrow screens), each with its runs. */
function WeekColumns({ days, placed }: { days: Date[]; placed: Placed[] }) {
  const today = dayKey(new Date());
  return (
    <ol className="calendar-week">
      {days.map((day) => {
        const runs = runsOn(placed, day);
        return (
          <li
            key={dayKey(day)}
            className={`calendar-day${dayKey(day) === today ? " today" : ""}`}
            aria-current={dayKey(day) === today ? "date" : undefined}
          >
            <h4>
              <time dateTime={dayKey(day)}>{dayFormat.format(day)}</time>
            </h4>
            {runs.length === 0 ? (
              <p className="muted no-runs-note">No runs</p>
            ) : (
              <ul className="calendar-runs">
                {runs.map((p) => (
                  <li key={`${p.run.eventId}/${p.run.runNumber}`}>
                    <RunLink placed={p} day={day} detailed />
                  </li>
                ))}
              </ul>
            )}
          </li>
        );
      })}
    </ol>
  );
}

/**
 * The calendar of runs: a month or a week in the viewer's time zone (named on screen), previous, next and today;
 * each run links to its event's page, live runs are highlighted. The view and the day live in the URL
 * (#/calendar?view=week&date=2026-06-01).
 */
export function CalendarView() {
  const [query, navigate] = useHashQuery();
  const mode: CalendarMode = query.get("view") === "week" ? "week" : "month";
  const anchor = dayOf(query.get("date"));
  const days = visibleDays(mode, anchor);
  const from = days[0] as Date;
  const to = addDays(days.at(-1) as Date, 1);
  const calendar = useCalendarRuns(from, to);
  const periodId = useId();

  const go = (view: CalendarMode, date: Date | undefined) => {
    const next = new URLSearchParams();
    if (view === "week") next.set("view", "week");
    if (date) next.set("date", dayKey(date));
    navigate(next);
  };
  const step = (direction: 1 | -1) =>
    go(
      mode,
      mode === "week"
        ? addDays(anchor, 7 * direction)
        : new Date(anchor.getFullYear(), anchor.getMonth() + direction, 1),
    );

  const placed: Placed[] = (calendar.data?.runs ?? [])
    .map((run) => {
      const event = calendar.data?.events.get(run.eventId);
      return {
        run,
        start: run.startTime ? timestampDate(run.startTime) : from,
        end: run.endTime ? timestampDate(run.endTime) : to,
        title: event?.title ?? "",
        recurring: event?.recurrence !== undefined,
        live: event?.currentRun?.runNumber === run.runNumber,
      };
    })
    .sort((a, b) => a.start.getTime() - b.start.getTime() || a.title.localeCompare(b.title));

  const period = mode === "month" ? monthFormat.format(anchor) : rangeFormat.formatRange(from, addDays(to, -1));
  const unit = mode === "month" ? "month" : "week";
  return (
    <div className="calendar-view">
      <PageHeader title="Calendar">
        <fieldset className="chips">
          <legend className="sr-only">Show</legend>
          <button type="button" className="chip" aria-pressed={mode === "month"} onClick={() => go("month", anchor)}>
            <CalendarDays className="icon" aria-hidden />
            Month
          </button>
          <button type="button" className="chip" aria-pressed={mode === "week"} onClick={() => go("week", anchor)}>
            <CalendarRange className="icon" aria-hidden />
            Week
          </button>
        </fieldset>
      </PageHeader>
      <div className="calendar-toolbar">
        <nav className="calendar-nav" aria-label={`Choose the ${unit}`}>
          <button type="button" onClick={() => step(-1)}>
            <ChevronLeft className="icon" aria-hidden />
            Previous {unit}
          </button>
          <button type="button" onClick={() => go(mode, undefined)}>
            Today
          </button>
          <button type="button" onClick={() => step(1)}>
            Next {unit}
            <ChevronRight className="icon" aria-hidden />
          </button>
        </nav>
        <h3 id={periodId} aria-live="polite">
          {period}
        </h3>
        <p className="muted calendar-zone">Times in {zoneLabel(anchor)}</p>
      </div>
      <ErrorNotice error={calendar.error} />
      {calendar.isPending && <Loading what="runs" />}
      {calendar.data && (
        <section aria-labelledby={periodId} className="calendar-body" aria-busy={calendar.isPlaceholderData}>
          {placed.length === 0 && <p className="empty">No runs this {unit}.</p>}
          {mode === "month" ? (
            <MonthGrid days={days} month={anchor.getMonth()} placed={placed} />
          ) : (
            <WeekColumns days={days} placed={placed} />
          )}
        </section>
      )}
    </div>
  );
}
