import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { createQueryOptions, useQuery, useTransport } from "@connectrpc/connect-query";
import { skipToken, useQueries } from "@tanstack/react-query";
import { CalendarClock, Flag, History, Radio, Trophy } from "lucide-react";
import { type ReactNode, useEffect, useId, useState } from "react";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import { type AuditEntry, AuditService } from "../../gen/liveops/v1/audit_service_pb.js";
import { type Event, EventStatus, type Reward } from "../../gen/liveops/v1/event_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService, type ScoreEntry } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { RewardService } from "../../gen/liveops/v1/reward_service_pb.js";
import { fieldLabel } from "./audit-changes.js";
import { actionWords, bareMethod, NON_KEY_ACTORS } from "./audit-view.js";
import { ErrorNotice, formatNumber, Loading, PageHeader, Stat, StatusBadge } from "./components.js";
import "./overview-view.css";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How many ended runs "Recently ended" shows. */
const RECENT_RUNS = 5;
/** The ended events read to count those of the last 7 days (the first few are also shown). */
const ENDED_PAGE = 100;

/** Now, read again every `everyMs`, so that texts relative to it ("in 2 h") stay true between refetches. */
function useNow(everyMs = 30_000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** A span of time in words, to the nearest minute: "2 d 3 h", "2 h 10 min", "42 min", "less than a minute". */
export function formatSpan(ms: number): string {
  const minutes = Math.round(Math.abs(ms) / MINUTE);
  if (minutes < 1) return "less than a minute";
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return rest > 0 ? `${hours} h ${rest} min` : `${hours} h`;
  return `${rest} min`;
}

const ms = (t: Timestamp | undefined) => (t ? timestampDate(t).getTime() : undefined);

/** A time relative to now ("in 2 h 10 min", "5 min ago"), with the time itself in the viewer's zone beside it. */
function RelativeTime({ at, now }: { at: Timestamp | undefined; now: number }) {
  if (!at) return <span className="muted">—</span>;
  const date = timestampDate(at);
  const delta = date.getTime() - now;
  const wall = date.toLocaleString(undefined, {
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  });
  return (
    <time dateTime={date.toISOString()} title={date.toLocaleString(undefined, { timeZoneName: "long" })}>
      {delta > 0 ? `in ${formatSpan(delta)}` : delta > -MINUTE ? "just now" : `${formatSpan(delta)} ago`}
      <span className="muted"> ({wall})</span>
    </time>
  );
}

/** A section of the overview: a card with its heading. */
function Section({
  title,
  icon,
  children,
  wide,
}: {
  title: string;
  icon: ReactNode;
  children: ReactNode;
  wide?: boolean;
}) {
  const id = useId();
  return (
    <section className={`card overview-section${wide ? " wide" : ""}`} aria-labelledby={id}>
      <h3 id={id}>
        {icon}
        {title}
      </h3>
      {children}
    </section>
  );
}

const eventLink = (event: Event) => <a href={`#/events/${event.id}`}>{event.title}</a>;

/** An event's counters, by name, formatted. */
function Counters({ counters }: { counters: Record<string, bigint> }) {
  const names = Object.keys(counters).sort();
  if (names.length === 0) return null;
  return (
    <dl className="overview-counters">
      {names.map((name) => (
        <div key={name}>
          <dt>{name.replaceAll("_", " ")}</dt>
          <dd>{formatNumber(counters[name] ?? 0n)}</dd>
        </div>
      ))}
    </dl>
  );
}

const rewardsInWords = (rewards: Reward[]) => rewards.map((r) => `${formatNumber(r.quantity)} × ${r.name}`).join(", ");

/** The top of a board, with what each player was granted when the run is over. */
function Podium({ label, scores, granted }: { label: string; scores: ScoreEntry[]; granted?: Map<string, Reward[]> }) {
  return (
    <ol className="overview-podium" aria-label={label}>
      {scores.map((s) => {
        const rewards = granted?.get(s.playerId);
        return (
          <li key={s.playerId} data-player-id={s.playerId}>
            <span className="rank">{s.rank === 1n ? <Trophy className="icon" aria-label="1st" /> : `${s.rank}.`}</span>
            <span className="player">{s.playerId}</span>
            <span className="number">{formatNumber(s.score)}</span>
            {rewards && rewards.length > 0 && <span className="granted">won {rewardsInWords(rewards)}</span>}
          </li>
        );
      })}
    </ol>
  );
}

/** A live event: time left in its run, its counters, the top of its live board. */
function LiveEvent({ event, now }: { event: Event; now: number }) {
  const run = event.currentRun;
  const board = useQuery(
    LeaderboardService.method.listScores,
    event.leaderboard ? { eventId: event.id, runNumber: run?.runNumber ?? 0n, pageSize: 3 } : skipToken,
  );
  return (
    <li className="overview-item" data-event-id={event.id}>
      <div className="overview-item-head">
        {eventLink(event)}
        {event.recurrence && run && <span className="muted">run {run.runNumber.toString()}</span>}
      </div>
      <p className="muted">
        Ends <RelativeTime at={run?.endTime ?? event.endTime} now={now} />
      </p>
      <Counters counters={event.counters} />
      {event.leaderboard &&
        (board.data?.scores.length ? (
          <Podium label={`Leaders of ${event.title}`} scores={board.data.scores} />
        ) : board.isPending ? null : (
          <p className="muted">No scores yet.</p>
        ))}
    </li>
  );
}

/** When an upcoming or between-runs event next starts. */
const nextStart = (event: Event) =>
  ms(event.status === EventStatus.UPCOMING ? event.startTime : event.nextRunStartTime) ?? Number.POSITIVE_INFINITY;

/** A run that ended: of an ended event (its last run), or the last finished run of a recurring one. */
interface EndedRun {
  event: Event;
  /** 0: the event's last run that started. */
  runNumber: bigint;
  end: number;
}

/** An ended run: its final top 3 and what they were granted, and how many players were granted in all. */
function RecentRun({ item, now }: { item: EndedRun; now: number }) {
  const { event } = item;
  const board = useQuery(
    LeaderboardService.method.listScores,
    event.leaderboard ? { eventId: event.id, runNumber: item.runNumber, pageSize: 3 } : skipToken,
  );
  const runNumber = board.data?.runNumber;
  const grants = useQuery(
    RewardService.method.listRewardGrants,
    runNumber ? { eventId: event.id, runNumber, pageSize: 500 } : skipToken,
  );
  const granted = new Map((grants.data?.grants ?? []).map((g) => [g.playerId, g.rewards]));
  return (
    <li className="overview-item" data-event-id={event.id}>
      <div className="overview-item-head">
        {eventLink(event)}
        {event.recurrence && runNumber !== undefined && <span className="muted">run {runNumber.toString()}</span>}
      </div>
      <p className="muted">
        Ended <RelativeTime at={timestampFromMs(item.end)} now={now} />
      </p>
      {!event.leaderboard ? (
        <p className="muted">No leaderboard.</p>
      ) : board.data?.scores.length ? (
        <>
          <Podium label={`Winners of ${event.title}`} scores={board.data.scores} granted={granted} />
          {grants.data && (
            <p className="muted">
              {grants.data.grants.length === 0
                ? "No prizes were granted."
                : `${formatNumber(grants.data.grants.length)}${grants.data.nextPageToken ? "+" : ""} ${
                    grants.data.grants.length === 1 ? "player was" : "players were"
                  } granted prizes.`}
            </p>
          )}
        </>
      ) : board.isPending ? null : (
        <p className="muted">No scores were submitted.</p>
      )}
    </li>
  );
}

/** The last finished run of each recurring event that has not ended, from its runs of the last 7 days. */
function useLastFinishedRuns(events: Event[], now: number): EndedRun[] {
  const transport = useTransport();
  // Windows move by the hour, so that the queries keep their keys between the 30 s ticks.
  const hour = Math.ceil(now / HOUR) * HOUR;
  const recurring = events.filter((e) => e.recurrence);
  const runs = useQueries({
    queries: recurring.map((e) =>
      createQueryOptions(
        EventService.method.listEventRuns,
        { eventId: e.id, startTime: timestampFromMs(hour - 7 * DAY), endTime: timestampFromMs(hour), pageSize: 500 },
        { transport },
      ),
    ),
  });
  const found: EndedRun[] = [];
  recurring.forEach((event, i) => {
    const last = runs[i]?.data?.runs.filter((r) => (ms(r.endTime) ?? now) <= now).at(-1);
    if (last) found.push({ event, runNumber: last.runNumber, end: ms(last.endTime) ?? now });
  });
  return found;
}

/** What an entry's changes say a field was (after, else before), e.g. an event's title. */
function changedValue(changes: JsonObject, field: string): JsonValue | undefined {
  const change = changes[field] as { before?: JsonValue; after?: JsonValue } | undefined;
  return change?.after ?? change?.before;
}

/**
 * An audit entry in words: who did what ("created event", the audit view's words for the method) to which target,
 * by names (a name it cannot find: a short id), and the fields an update changed.
 */
export function auditEntryInWords(
  entry: AuditEntry,
  names: { keyName: (id: string) => string | undefined; eventTitle: (id: string) => string | undefined },
): { actor: string; action: string; target: string; fields: string[] } {
  const changes = entry.changes ?? {};
  const actor =
    NON_KEY_ACTORS[entry.actorKeyId] ?? names.keyName(entry.actorKeyId) ?? `key ${entry.actorKeyId.slice(0, 8)}`;
  const words = actionWords(entry.method);
  const action = `${words.charAt(0).toLowerCase()}${words.slice(1)}`;
  let name: string | undefined;
  if (entry.targetType === "event") {
    const title = changedValue(changes, "title");
    name = typeof title === "string" ? title : names.eventTitle(entry.targetId);
  } else if (entry.targetType === "api_key") {
    const keyName = changedValue(changes, "name");
    name = typeof keyName === "string" ? keyName : names.keyName(entry.targetId);
  } else name = entry.targetId;
  const target =
    entry.targetType === "player_token_key" ? "" : name !== undefined ? `“${name}”` : entry.targetId.slice(0, 8);
  const fields = bareMethod(entry.method).startsWith("Update")
    ? Object.keys(changes).map((f) => fieldLabel(entry.targetType, f))
    : [];
  return { actor, action, target, fields };
}

/** The last 5 audit entries in words, with the names of the keys and events they name. */
function LatestChanges({ now }: { now: number }) {
  const transport = useTransport();
  const log = useQuery(AuditService.method.listAuditEntries, { pageSize: 5 });
  const keys = useQuery(ApiKeyService.method.listApiKeys, { pageSize: 500 });
  const entries = log.data?.entries ?? [];
  const untitled = [
    ...new Set(
      entries.filter((e) => e.targetType === "event" && e.changes?.title === undefined).map((e) => e.targetId),
    ),
  ];
  const events = useQueries({
    queries: untitled.map((id) => ({
      ...createQueryOptions(EventService.method.getEvent, { id }, { transport }),
      retry: false,
    })),
  });
  const titles = new Map(untitled.map((id, i) => [id, events[i]?.data?.event?.title]));
  const keyNames = new Map((keys.data?.apiKeys ?? []).map((k) => [k.id, k.name]));
  const names = { keyName: (id: string) => keyNames.get(id), eventTitle: (id: string) => titles.get(id) };
  if (log.isPending) return <Loading what="the audit log" />;
  if (log.error) return <ErrorNotice error={log.error} />;
  if (entries.length === 0) return <p className="empty">No changes recorded yet.</p>;
  return (
    <ul className="overview-audit">
      {entries.map((entry) => {
        const words = auditEntryInWords(entry, names);
        return (
          <li key={entry.id}>
            <span>
              <strong>{words.actor}</strong> {words.action} {words.target}
              {words.fields.length > 0 && <span className="muted"> ({words.fields.join(", ")})</span>}
            </span>
            <RelativeTime at={entry.time} now={now} />
          </li>
        );
      })}
    </ul>
  );
}

/** A list of events, or what to do when it is empty. */
function EventList({
  query,
  empty,
  children,
}: {
  query: { isPending: boolean; error: unknown };
  empty: ReactNode;
  children: ReactNode[];
}) {
  if (query.isPending) return <Loading what="events" />;
  if (query.error) return <ErrorNotice error={query.error} />;
  if (children.length === 0) return <p className="empty">{empty}</p>;
  return <ul className="overview-list">{children}</ul>;
}

/** The overview: live now, starting soon, recently ended with winners, counters, the latest audit entries. */
export function OverviewView({ canManage, isAdmin }: { canManage: boolean; isAdmin: boolean }) {
  const now = useNow();
  const live = useQuery(EventService.method.listEvents, {
    statuses: [EventStatus.ACTIVE],
    orderBy: "end_time",
    pageSize: 100,
    includeCounts: true,
  });
  const coming = useQuery(EventService.method.listEvents, {
    statuses: [EventStatus.UPCOMING, EventStatus.BETWEEN_RUNS],
    pageSize: 500,
  });
  const ended = useQuery(EventService.method.listEvents, {
    statuses: [EventStatus.ENDED],
    orderBy: "end_time desc",
    pageSize: ENDED_PAGE,
  });
  // Ending soonest first by the live run's end: a recurring event's own end is its series' (or none).
  const runEnd = (event: Event) => (event.currentRun?.endTime ? timestampMs(event.currentRun.endTime) : Infinity);
  const liveEvents = [...(live.data?.events ?? [])].sort((a, b) => runEnd(a) - runEnd(b));
  const soon = (coming.data?.events ?? [])
    .filter((e) => nextStart(e) <= now + DAY)
    .sort((a, b) => nextStart(a) - nextStart(b));
  const endedEvents = ended.data?.events ?? [];
  const lastRuns = useLastFinishedRuns([...liveEvents, ...(coming.data?.events ?? [])], now);
  const recent = [
    ...endedEvents.slice(0, RECENT_RUNS).map((event) => ({ event, runNumber: 0n, end: ms(event.endTime) ?? now })),
    ...lastRuns,
  ]
    .sort((a, b) => b.end - a.end)
    .slice(0, RECENT_RUNS);
  const endedThisWeek = endedEvents.filter((e) => (ms(e.endTime) ?? 0) >= now - 7 * DAY).length;
  const allEnded = endedThisWeek === endedEvents.length && ended.data?.nextPageToken;
  const total = live.data?.statusCounts.reduce((sum, c) => sum + c.count, 0);
  // Link texts differ from the navigation's ("Events", "Audit log"), so that each names one place.
  const toEvents = (what: string) =>
    canManage ? (
      <>
        {" "}
        <a href="#/events">{what}</a>.
      </>
    ) : null;

  return (
    <div className="overview">
      <PageHeader title="Overview" />
      <dl className="stats">
        <Stat label="Live now" value={live.data ? live.data.totalSize || liveEvents.length : "…"} />
        <Stat label="Starting in 24 h" value={coming.data ? soon.length : "…"} />
        <Stat
          label="Ended in the last 7 days"
          value={ended.data ? `${formatNumber(endedThisWeek)}${allEnded ? "+" : ""}` : "…"}
        />
        <Stat label="Events in all" value={total ?? "…"} />
      </dl>
      <div className="overview-grid">
        <Section title="Live now" icon={<Radio className="icon" aria-hidden />} wide>
          <EventList query={live} empty={<>No live events.{toEvents("Create an event")}</>}>
            {liveEvents.map((event) => (
              <LiveEvent key={event.id} event={event} now={now} />
            ))}
          </EventList>
        </Section>
        <Section title="Starting in the next 24 hours" icon={<CalendarClock className="icon" aria-hidden />}>
          <EventList query={coming} empty={<>Nothing starts in the next 24 hours.{toEvents("Schedule an event")}</>}>
            {soon.map((event) => (
              <li key={event.id} className="overview-item" data-event-id={event.id}>
                <div className="overview-item-head">
                  {eventLink(event)}
                  <StatusBadge status={event.status} />
                </div>
                <p className="muted">
                  Starts <RelativeTime at={timestampFromMs(nextStart(event))} now={now} />
                </p>
              </li>
            ))}
          </EventList>
        </Section>
        <Section title="Recently ended" icon={<Flag className="icon" aria-hidden />}>
          <EventList
            query={ended}
            empty="No run has ended yet. When one does, its winners and what they were granted appear here."
          >
            {recent.map((item) => (
              <RecentRun key={`${item.event.id}/${item.runNumber}`} item={item} now={now} />
            ))}
          </EventList>
        </Section>
        {isAdmin && (
          <Section title="Latest changes" icon={<History className="icon" aria-hidden />}>
            <LatestChanges now={now} />
            <p>
              <a href="#/audit">See all changes</a>
            </p>
          </Section>
        )}
      </div>
    </div>
  );
}
