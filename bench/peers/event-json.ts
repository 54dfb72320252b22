// The peers' own mapping of a stored event to its API form: the proto3 JSON of liveops.v1.Event, written by hand as a
// Fastify user writes JSON (plain objects, JSON.stringify), with every field of the benchmark's events in field order.
import { createHash } from "node:crypto";

/** An event as the peers read it: the columns of the product's query, under the same names. */
export interface EventRow {
  id: string;
  title: string;
  description: string;
  startTime: number;
  endTime: number;
  rewards: string;
  metadata: string | null;
  version: number;
  createTime: number;
  updateTime: number;
  recurrenceRule: string | null;
  runDurationMs: number | null;
  endLimit: number | null;
  runsRevision: number;
  leaderboard: string | null;
  countersRevision: number;
  audiences: string | null;
  excludedAudiences: string | null;
  recurrenceTimeZone: string | null;
}

/** A run as the peers read it (SQLite's booleans are 0 and 1). */
export interface RunRow {
  eventId: string;
  runNumber: number;
  startTime: number;
  endTime: number;
  endedEarly: number;
}

/** Where an event is at a time: its status, its live run, the start of its next one, until when that holds. */
export interface EventState {
  status: "EVENT_STATUS_UPCOMING" | "EVENT_STATUS_ACTIVE" | "EVENT_STATUS_BETWEEN_RUNS" | "EVENT_STATUS_ENDED";
  currentRun: RunRow | undefined;
  nextRunStart: number | undefined;
  validUntil: number;
}

/** The stored end time of an event whose rule has no end. */
const OPEN_END = Number.MAX_SAFE_INTEGER;

/** The state of `row` at `at`, from its (at most two) first runs that end after `at`: the API's status rules. */
export function stateAt(row: EventRow, runs: readonly RunRow[], at: number): EventState {
  const [first, second] = runs;
  if (first && first.startTime <= at) {
    return {
      status: "EVENT_STATUS_ACTIVE",
      currentRun: first,
      nextRunStart: second?.startTime,
      validUntil: first.endTime,
    };
  }
  const status =
    at < row.startTime
      ? "EVENT_STATUS_UPCOMING"
      : at >= row.endTime
        ? "EVENT_STATUS_ENDED"
        : "EVENT_STATUS_BETWEEN_RUNS";
  // The next moment one of the comparisons above can change: the event's start, its end, its first run's start.
  const later = (time: number | undefined) => (time !== undefined && time > at ? time : Number.POSITIVE_INFINITY);
  const validUntil = Math.min(later(row.startTime), later(row.endTime), later(first?.startTime));
  return { status, currentRun: undefined, nextRunStart: first?.startTime, validUntil };
}

/** A Timestamp's JSON: RFC 3339 in UTC, its fraction only when it has one (as protobuf JSON writes it). */
function timestampJson(ms: number): string {
  const iso = new Date(ms).toISOString();
  return ms % 1000 === 0 ? `${iso.slice(0, -5)}Z` : iso;
}

/** The API's opaque etag of one version of an event. */
function eventEtag(id: string, version: number): string {
  return createHash("sha256").update(`${id}:${version}`).digest("base64url").slice(0, 16);
}

const namesOf = (json: string | null): string[] => (json === null ? [] : (JSON.parse(json) as string[]));

/**
 * The proto3 JSON of an event in `state`, with every field written (as the product writes it, `alwaysEmitImplicit`).
 * The benchmark's events have no recurrence, leaderboard or counters; the peers refuse an event that has any rather
 * than answer it wrongly.
 */
export function eventJson(row: EventRow, state: EventState): Record<string, unknown> {
  if (row.recurrenceRule !== null || row.leaderboard !== null || row.countersRevision > 0) {
    throw new Error(`the peers serve no event with a recurrence, a leaderboard or counters (event ${row.id})`);
  }
  const rewards = JSON.parse(row.rewards) as { id: string; name: string; quantity: string }[];
  const run = state.currentRun;
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    startTime: timestampJson(row.startTime),
    endTime: row.endTime === OPEN_END ? undefined : timestampJson(row.endTime),
    rewards: rewards.map((r) => ({ id: r.id, name: r.name, quantity: r.quantity })),
    metadata: row.metadata === null ? undefined : JSON.parse(row.metadata),
    status: state.status,
    createTime: timestampJson(row.createTime),
    updateTime: timestampJson(row.updateTime),
    etag: eventEtag(row.id, row.version),
    currentRun: run && {
      eventId: run.eventId,
      runNumber: String(run.runNumber),
      startTime: timestampJson(run.startTime),
      endTime: timestampJson(run.endTime),
      endedEarly: run.endedEarly === 1,
    },
    nextRunStartTime: state.nextRunStart === undefined ? undefined : timestampJson(state.nextRunStart),
    counters: {},
    audiences: namesOf(row.audiences),
    excludedAudiences: namesOf(row.excludedAudiences),
  };
}
