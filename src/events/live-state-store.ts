import { sql } from "drizzle-orm";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import type { SqlClient } from "../db/storage.js";
import type { LiveState } from "../metrics/metrics.js";
import { countEventsByStatus, EVENT_STATUSES } from "./event-list-store.js";

/** The metric label of an event status: `upcoming`, `active`, `between_runs`, `ended`. */
export function statusLabel(status: EventStatus): string {
  return (EventStatus[status] ?? String(status)).toLowerCase();
}

/** The queries behind the state gauges of /metrics (see observeLiveState): two reads, made when a scrape asks. */
export function createLiveStateStore(reads: SqlClient) {
  return {
    /** Events by status at `now`, and the boards of the runs live at `now` with their sizes. */
    async liveState(now: number): Promise<LiveState> {
      const eventsByStatus: Record<string, number> = Object.fromEntries(EVENT_STATUSES.map((s) => [statusLabel(s), 0]));
      for (const count of await countEventsByStatus(reads, { titleQuery: "", now, byTargeting: false })) {
        const label = statusLabel(count.status);
        eventsByStatus[label] = (eventsByStatus[label] ?? 0) + count.count;
      }
      // From the events not ended (their end time's index) to their live run (the runs' (event, end) index).
      const boards = await reads.get<{
        boards: number | string;
        entries: number | string | null;
        largest: unknown;
      }>(sql`
        SELECT count(*) AS boards, sum(r.participants) AS entries, max(r.participants) AS largest
        FROM events e JOIN event_runs r ON r.event_id = e.id AND r.end_time > ${now} AND r.start_time <= ${now}
        WHERE e.end_time > ${now} AND e.start_time <= ${now} AND e.leaderboard IS NOT NULL`);
      return {
        eventsByStatus,
        liveBoards: Number(boards?.boards ?? 0),
        boardEntries: Number(boards?.entries ?? 0),
        largestBoard: Number(boards?.largest ?? 0),
      };
    },
  };
}
