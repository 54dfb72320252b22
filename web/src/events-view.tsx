import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { keepPreviousData, useQueryClient } from "@tanstack/react-query";
import { ChevronLeft, ChevronRight, Plus, Repeat, Search, Trophy } from "lucide-react";
import { useCallback, useEffect, useId, useState } from "react";
import { AudienceService } from "../../gen/liveops/v1/audience_service_pb.js";
import { EventAdminService } from "../../gen/liveops/v1/event_admin_service_pb.js";
import { type Event, EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { EventService, type ListEventsResponse } from "../../gen/liveops/v1/event_service_pb.js";
import { ErrorNotice, formatNumber, Loading, PageHeader, StatusBadge } from "./components.js";
import { EventForm } from "./event-form.js";
import "./events-view.css";

/** Events per page of each section. */
export const PAGE_SIZE = 20;
/** How long the search waits after the last keystroke before it asks the server. */
const SEARCH_DELAY_MS = 300;
/** The audiences the event form offers: the first page, at the largest size ListAudiences allows. */
const AUDIENCE_CHOICES = 500;

/** The status filters, in the order of their chips, with the word each has in the URL. */
const STATUS_FILTERS = [
  { status: EventStatus.ACTIVE, word: "live", label: "Live" },
  { status: EventStatus.UPCOMING, word: "upcoming", label: "Upcoming" },
  { status: EventStatus.BETWEEN_RUNS, word: "between", label: "Between runs" },
  { status: EventStatus.ENDED, word: "ended", label: "Ended" },
] as const;

/** The statuses of the first section: events that are live or still to come. */
const CURRENT_STATUSES = [EventStatus.ACTIVE, EventStatus.BETWEEN_RUNS, EventStatus.UPCOMING];

/** A query string whose commas stay readable (status=live,upcoming); empty values are left out. */
function formatQuery(query: URLSearchParams): string {
  return [...query]
    .filter(([, value]) => value !== "")
    .map(([key, value]) => `${key}=${encodeURIComponent(value).replace(/%2C/gi, ",")}`)
    .join("&");
}

function hashQuery(): URLSearchParams {
  const hash = window.location.hash;
  const at = hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : hash.slice(at + 1));
}

/**
 * The query of the location's hash (`#/events?status=live&q=cup` holds `status=live&q=cup`), kept in step with
 * Back and Forward, and a function that changes it: a new history entry, or with `replace` the current one (typing).
 */
export function useHashQuery(): [URLSearchParams, (next: URLSearchParams, options?: { replace?: boolean }) => void] {
  const [query, setQuery] = useState(hashQuery);
  useEffect(() => {
    const onChange = () => setQuery(hashQuery());
    window.addEventListener("hashchange", onChange);
    window.addEventListener("popstate", onChange);
    return () => {
      window.removeEventListener("hashchange", onChange);
      window.removeEventListener("popstate", onChange);
    };
  }, []);
  const navigate = useCallback((next: URLSearchParams, options?: { replace?: boolean }) => {
    const path = window.location.hash.slice(1).split("?")[0] || "/";
    const text = formatQuery(next);
    const url = `#${path}${text ? `?${text}` : ""}`;
    if (url === window.location.hash) return;
    if (options?.replace) window.history.replaceState(window.history.state, "", url);
    else window.history.pushState(null, "", url);
    setQuery(hashQuery());
  }, []);
  return [query, navigate];
}

/** The statuses named by the URL's `status` (live,upcoming,…); none: no status filter. */
function statusesOf(value: string | null): EventStatus[] {
  const words = new Set((value ?? "").split(","));
  return STATUS_FILTERS.filter((f) => words.has(f.word)).map((f) => f.status);
}

/** The page tokens of a section's pages after the first, from the URL (comma-separated, as tokens hold none). */
function pagesOf(value: string | null): string[] {
  return value ? value.split(",").filter(Boolean) : [];
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});
const timeWithYearFormat = new Intl.DateTimeFormat(undefined, {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

/** The viewer's time zone, as the browser names it (e.g. "Europe/Berlin"). */
export const viewerTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A time, short, in the viewer's time zone (with the year when it is not this year), UTC on hover. */
export function When({ value }: { value: Timestamp | undefined }) {
  if (!value) return <span className="muted">—</span>;
  const date = timestampDate(value);
  const format = date.getFullYear() === new Date().getFullYear() ? timeFormat : timeWithYearFormat;
  return (
    <time dateTime={date.toISOString()} title={`${date.toISOString().replace("T", " ").slice(0, 16)} UTC`}>
      {format.format(date)}
    </time>
  );
}

/** Where an event stands in its schedule: the live run's end, the next run, its start or its end. */
function Schedule({ event }: { event: Event }) {
  const run = event.currentRun;
  const runLabel = event.recurrence && run ? `Run ${formatNumber(run.runNumber)} live until ` : "Live until ";
  switch (event.status) {
    case EventStatus.ACTIVE:
      return (
        <>
          {runLabel}
          <When value={run?.endTime ?? event.endTime} />
        </>
      );
    case EventStatus.BETWEEN_RUNS:
      return (
        <>
          Next run <When value={event.nextRunStartTime} />
        </>
      );
    case EventStatus.UPCOMING:
      return (
        <>
          Starts <When value={event.startTime} />
        </>
      );
    default:
      return (
        <>
          Ended <When value={event.endTime} />
        </>
      );
  }
}

/** Whom an event is for: its audiences and excluded audiences; "Every player" when it names none. */
function Audiences({ event }: { event: Event }) {
  if (event.audiences.length === 0 && event.excludedAudiences.length === 0) {
    return <span className="muted">Every player</span>;
  }
  return (
    <div className="event-audiences">
      {event.audiences.length > 0 && (
        <span>
          For <span className="audience-names">{event.audiences.join(", ")}</span>
        </span>
      )}
      {event.excludedAudiences.length > 0 && (
        <span>
          Not for <span className="audience-names">{event.excludedAudiences.join(", ")}</span>
        </span>
      )}
    </div>
  );
}

/** One event as a table row (a card on narrow screens). */
function EventRow({ event }: { event: Event }) {
  return (
    <tr data-event-id={event.id}>
      <td data-label="Event">
        <span className="cell">
          <a href={`#/events/${event.id}`} className="event-title">
            {event.title}
          </a>
          {event.recurrence && (
            <span className="event-repeats muted">
              <Repeat className="icon" aria-hidden /> Repeats
            </span>
          )}
        </span>
      </td>
      <td data-label="Status">
        <span className="cell">
          <StatusBadge status={event.status} />
        </span>
      </td>
      <td data-label="When">
        <span className="cell">
          <Schedule event={event} />
        </span>
      </td>
      <td data-label="For">
        <span className="cell">
          <Audiences event={event} />
        </span>
      </td>
      <td data-label="Leaderboard">
        <span className="cell">
          {event.leaderboard ? (
            <span className="event-leaderboard">
              <Trophy className="icon" aria-hidden /> Leaderboard
            </span>
          ) : (
            <span className="muted">None</span>
          )}
        </span>
      </td>
    </tr>
  );
}

/** The paging of one section: previous and next page, and which events the page holds. */
function SectionPager({
  label,
  pages,
  total,
  shown,
  nextPageToken,
  onPages,
}: {
  label: string;
  pages: string[];
  total: number;
  shown: number;
  nextPageToken: string;
  onPages: (pages: string[]) => void;
}) {
  if (pages.length === 0 && !nextPageToken) return null;
  const first = pages.length * PAGE_SIZE + 1;
  return (
    <nav className="pager events-pager" aria-label={label}>
      <button type="button" disabled={pages.length === 0} onClick={() => onPages(pages.slice(0, -1))}>
        <ChevronLeft className="icon" aria-hidden />
        Previous
      </button>
      <span>
        Page {formatNumber(pages.length + 1)}
        <span className="muted">
          {" "}
          · {formatNumber(first)}–{formatNumber(first + shown - 1)} of {formatNumber(total)}
        </span>
      </span>
      <button type="button" disabled={!nextPageToken} onClick={() => onPages([...pages, nextPageToken])}>
        Next
        <ChevronRight className="icon" aria-hidden />
      </button>
    </nav>
  );
}

/** A section of the list: a heading with its count, the events of one page, its pages. */
function EventSection({
  title,
  empty,
  list,
  pages,
  onPages,
}: {
  title: string;
  empty: string;
  list: { data: ListEventsResponse | undefined; error: unknown; isPending: boolean };
  pages: string[];
  onPages: (pages: string[]) => void;
}) {
  const headingId = useId();
  const data = list.data;
  return (
    <section className="events-section" aria-labelledby={headingId}>
      <h3 id={headingId}>
        {title}
        {data && <span className="section-count">{formatNumber(data.totalSize)}</span>}
      </h3>
      {list.isPending && <Loading what="events" />}
      <ErrorNotice error={list.error} />
      {data && data.events.length === 0 && <p className="empty">{empty}</p>}
      {data && data.events.length > 0 && (
        <>
          <div className="table-wrap">
            <table className="events-table">
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col">When</th>
                  <th scope="col">For</th>
                  <th scope="col">Leaderboard</th>
                </tr>
              </thead>
              <tbody>
                {data.events.map((event) => (
                  <EventRow key={event.id} event={event} />
                ))}
              </tbody>
            </table>
          </div>
          <SectionPager
            label={`Pages of ${title.toLowerCase()}`}
            pages={pages}
            total={data.totalSize}
            shown={data.events.length}
            nextPageToken={data.nextPageToken}
            onPages={onPages}
          />
        </>
      )}
    </section>
  );
}

/** The title search: it asks the server once typing pauses, and follows the URL when Back changes it. */
function TitleSearch({ value, onSearch }: { value: string; onSearch: (text: string) => void }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text.trim() === value) return;
    const timer = setTimeout(() => onSearch(text.trim()), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [text, value, onSearch]);
  return (
    <div className="events-search">
      <Search className="icon" aria-hidden />
      <input
        type="search"
        aria-label="Search events by title"
        placeholder="Search by title"
        maxLength={200}
        value={text}
        onChange={(e) => setText(e.target.value)}
      />
    </div>
  );
}

/** The form of a new event, with the audiences it may target. */
function NewEvent({ onCreated, onCancel }: { onCreated: (event: Event) => void; onCancel: () => void }) {
  const create = useMutation(EventAdminService.method.createEvent);
  const audiences = useQuery(AudienceService.method.listAudiences, { pageSize: AUDIENCE_CHOICES });
  const queryClient = useQueryClient();
  return (
    <EventForm
      onCancel={onCancel}
      audienceChoices={{
        audiences: audiences.data?.audiences ?? [],
        loading: audiences.isPending,
        error: audiences.error,
      }}
      onSubmit={async (event) => {
        const created = await create.mutateAsync({ event });
        await queryClient.invalidateQueries();
        if (created.event) onCreated(created.event);
      }}
    />
  );
}

/**
 * The events: live and upcoming first (soonest first), then ended ones (newest first); a title search and status
 * chips with their counts; pages that keep their place. Filters, search and pages live in the URL, so Back from an
 * event's page returns to the same page. Operators and admins create events here; the rest is on each event's page.
 */
export function EventsView({ canManage }: { canManage: boolean }) {
  const [query, navigate] = useHashQuery();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<Event>();
  const statuses = statusesOf(query.get("status"));
  const titleQuery = query.get("q") ?? "";
  const shown = (status: EventStatus) => statuses.length === 0 || statuses.includes(status);
  const currentStatuses = CURRENT_STATUSES.filter(shown);
  const currentPages = pagesOf(query.get("page"));
  const endedPages = pagesOf(query.get("endedPage"));

  const current = useQuery(
    EventService.method.listEvents,
    {
      statuses: currentStatuses,
      titleQuery,
      orderBy: "start_time",
      includeCounts: true,
      pageSize: PAGE_SIZE,
      pageToken: currentPages.at(-1) ?? "",
    },
    { enabled: currentStatuses.length > 0, placeholderData: keepPreviousData },
  );
  const ended = useQuery(
    EventService.method.listEvents,
    {
      statuses: [EventStatus.ENDED],
      titleQuery,
      orderBy: "end_time desc",
      includeCounts: true,
      pageSize: PAGE_SIZE,
      pageToken: endedPages.at(-1) ?? "",
    },
    { enabled: shown(EventStatus.ENDED), placeholderData: keepPreviousData },
  );

  /** Changes some parameters of the URL; any other change than a page's goes back to the first pages. */
  const change = (patch: Record<string, string>, options?: { replace?: boolean }) => {
    const next = new URLSearchParams(query);
    if (!("page" in patch || "endedPage" in patch)) {
      next.delete("page");
      next.delete("endedPage");
    }
    for (const [key, value] of Object.entries(patch)) next.set(key, value);
    navigate(next, options);
  };
  const onSearch = (text: string) => change({ q: text }, { replace: true });
  const toggle = (status: EventStatus) => {
    const next = statuses.includes(status) ? statuses.filter((s) => s !== status) : [...statuses, status];
    const all = next.length === STATUS_FILTERS.length;
    change({
      status: all
        ? ""
        : STATUS_FILTERS.filter((f) => next.includes(f.status))
            .map((f) => f.word)
            .join(","),
    });
  };

  if (creating) {
    return (
      <NewEvent
        onCancel={() => setCreating(false)}
        onCreated={(event) => {
          setCreated(event);
          setCreating(false);
        }}
      />
    );
  }

  const counts = new Map((current.data ?? ended.data)?.statusCounts.map((c) => [c.status, c.count]));
  const matching =
    (currentStatuses.length > 0 ? (current.data?.totalSize ?? 0) : 0) +
    (shown(EventStatus.ENDED) ? (ended.data?.totalSize ?? 0) : 0);
  const loaded = (currentStatuses.length === 0 || current.data) && (!shown(EventStatus.ENDED) || ended.data);

  return (
    <div className="events-view">
      <PageHeader title="Events">
        {canManage && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            <Plus className="icon" aria-hidden />
            New event
          </button>
        )}
      </PageHeader>
      {created && (
        <p className="notice" role="status">
          Created “{created.title}”. <a href={`#/events/${created.id}`}>Open its page</a>
        </p>
      )}
      <div className="events-filters">
        <TitleSearch value={titleQuery} onSearch={onSearch} />
        <fieldset className="chips">
          <legend className="sr-only">Status</legend>
          <button
            type="button"
            className="chip"
            aria-pressed={statuses.length === 0}
            onClick={() => change({ status: "" })}
          >
            All
            {counts.size > 0 && (
              <span className="chip-count">{formatNumber([...counts.values()].reduce((a, b) => a + b, 0))}</span>
            )}
          </button>
          {STATUS_FILTERS.map((filter) => (
            <button
              key={filter.word}
              type="button"
              className="chip"
              aria-pressed={statuses.includes(filter.status)}
              onClick={() => toggle(filter.status)}
            >
              {filter.label}
              {counts.has(filter.status) && (
                <span className="chip-count">{formatNumber(counts.get(filter.status) ?? 0)}</span>
              )}
            </button>
          ))}
        </fieldset>
      </div>
      <p className="events-total muted" role="status">
        {loaded && (
          <>
            {formatNumber(matching)} {matching === 1 ? "event" : "events"}
            {titleQuery && <> matching “{titleQuery}”</>}. Times in {viewerTimeZone()}.
          </>
        )}
      </p>
      {currentStatuses.length > 0 && (
        <EventSection
          title="Live and upcoming"
          empty={titleQuery ? "No live or upcoming event matches the search." : "No live or upcoming events."}
          list={current}
          pages={currentPages}
          onPages={(pages) => change({ page: pages.join(",") })}
        />
      )}
      {shown(EventStatus.ENDED) && (
        <EventSection
          title="Ended"
          empty={titleQuery ? "No ended event matches the search." : "No ended events."}
          list={ended}
          pages={endedPages}
          onPages={(pages) => change({ endedPage: pages.join(",") })}
        />
      )}
    </div>
  );
}
