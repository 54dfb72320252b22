import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { useQuery, useTransport } from "@connectrpc/connect-query";
import { keepPreviousData, useQuery as useQueryOf } from "@tanstack/react-query";
import { ChevronDown, ChevronRight } from "lucide-react";
import { useState } from "react";
import { type Event, type EventRun, EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { type RewardGrant, RewardService } from "../../gen/liveops/v1/reward_service_pb.js";
import { ErrorNotice, formatNumber, Loading, Pager, Time } from "./components.js";
import { retryUnlessRefused } from "./errors.js";
import { rewardsInWords, ScoreTable } from "./leaderboard-view.js";

const UPCOMING = 5;
const PAST_SHOWN = 10;
const RESULTS_PAGE = 25;
/** At most this many past runs are read (pages of 500); a daily event has fewer in five years. */
const PAST_LIMIT = 2_000;

/** The runs of an event that have started and ended, newest first. */
export interface PastRuns {
  runs: EventRun[];
  /** True when the event has more past runs than were read. */
  truncated: boolean;
  loading: boolean;
  error: unknown;
}

/**
 * The event's past runs, newest first: every run that starts before the live run (or the next run), read page by
 * page. "Now" is the server's: the event's current and next run say where it is.
 */
export function usePastRuns(event: Event | undefined): PastRuns {
  const transport = useTransport();
  const before: Timestamp | undefined = event?.currentRun?.startTime ?? event?.nextRunStartTime;
  const started = event !== undefined && event.status !== EventStatus.UPCOMING;
  const query = useQueryOf({
    queryKey: ["past-runs", event?.id, event?.status, before?.seconds.toString(), event?.endTime?.seconds.toString()],
    enabled: started && (before !== undefined || event?.status === EventStatus.ENDED),
    queryFn: async ({ signal }) => {
      const client = createClient(EventService, transport);
      const runs: EventRun[] = [];
      let pageToken = "";
      do {
        const page = await client.listEventRuns(
          { eventId: event?.id ?? "", endTime: before ?? event?.endTime, pageSize: 500, pageToken },
          { signal },
        );
        runs.push(...page.runs);
        pageToken = page.nextPageToken;
      } while (pageToken && runs.length < PAST_LIMIT);
      const live = event?.currentRun?.runNumber;
      return { runs: runs.filter((r) => r.runNumber !== live).reverse(), truncated: pageToken !== "" };
    },
  });
  return {
    runs: query.data?.runs ?? [],
    truncated: query.data?.truncated ?? false,
    loading: query.isLoading,
    error: query.error,
  };
}

/** A run's times: "<start> – <end>". */
function RunTimes({ run }: { run: EventRun }) {
  return (
    <span className="run-times">
      <Time value={run.startTime} /> – <Time value={run.endTime} />
    </span>
  );
}

/** The event's runs: the live one, the next few, and past runs with their final boards and grants. */
export function RunHistory({ event, past }: { event: Event; past: PastRuns }) {
  const upcoming = useQuery(
    EventService.method.listEventRuns,
    { eventId: event.id, startTime: event.nextRunStartTime, pageSize: UPCOMING },
    { enabled: event.nextRunStartTime !== undefined },
  );
  const [shown, setShown] = useState(PAST_SHOWN);
  const next = event.nextRunStartTime ? (upcoming.data?.runs ?? []) : [];
  return (
    <section className="card runs" aria-labelledby="runs-heading">
      <h3 id="runs-heading">Runs</h3>
      <h4>Live now</h4>
      {event.currentRun ? (
        <p className="current-run">
          <span className="badge badge-live">live</span> Run {event.currentRun.runNumber.toString()}:{" "}
          <RunTimes run={event.currentRun} />
        </p>
      ) : (
        <p className="muted">No run is live.</p>
      )}
      <h4>Upcoming</h4>
      {upcoming.isLoading && <Loading what="the next runs" />}
      <ErrorNotice error={upcoming.error} />
      {next.length === 0 && !upcoming.isLoading && <p className="muted">No run is scheduled.</p>}
      {next.length > 0 && (
        <ul className="run-list" aria-label="Upcoming runs">
          {next.map((run) => (
            <li key={run.runNumber.toString()}>
              <span className="run-number">Run {run.runNumber.toString()}</span> <RunTimes run={run} />
            </li>
          ))}
        </ul>
      )}
      <h4>Past runs</h4>
      {past.loading && <Loading what="past runs" />}
      <ErrorNotice error={past.error} />
      {!past.loading && past.runs.length === 0 && <p className="muted">No run has ended yet.</p>}
      {past.runs.length > 0 && (
        <ol className="run-list past-runs" aria-label="Past runs, newest first">
          {past.runs.slice(0, shown).map((run) => (
            <PastRun key={run.runNumber.toString()} event={event} run={run} />
          ))}
        </ol>
      )}
      {past.runs.length > shown && (
        <button type="button" onClick={() => setShown(shown + PAST_SHOWN)}>
          Show {Math.min(PAST_SHOWN, past.runs.length - shown)} older runs
        </button>
      )}
      {past.truncated && past.runs.length <= shown && (
        <p className="muted">Older runs are not listed (the first {formatNumber(PAST_LIMIT)} are).</p>
      )}
    </section>
  );
}

/** One past run; with a leaderboard, a button opens its final board and the rewards it granted. */
function PastRun({ event, run }: { event: Event; run: EventRun }) {
  const [open, setOpen] = useState(false);
  const id = `run-${run.runNumber}-results`;
  return (
    <li>
      <div className="past-run">
        <span className="run-number">Run {run.runNumber.toString()}</span> <RunTimes run={run} />
        {run.endedEarly && <span className="badge badge-between">ended early</span>}
        {event.leaderboard && (
          <button type="button" aria-expanded={open} aria-controls={id} onClick={() => setOpen(!open)}>
            {open ? <ChevronDown className="icon" aria-hidden /> : <ChevronRight className="icon" aria-hidden />}
            {open ? "Hide results" : "Show results"}
            <span className="visually-hidden"> of run {run.runNumber.toString()}</span>
          </button>
        )}
      </div>
      {open && (
        <div id={id} className="run-results">
          <RunResults event={event} runNumber={run.runNumber} />
        </div>
      )}
    </li>
  );
}

/** A past run's final board and its reward grants. */
function RunResults({ event, runNumber }: { event: Event; runNumber: bigint }) {
  const [pages, setPages] = useState([""]);
  const scores = useQuery(
    LeaderboardService.method.listScores,
    { eventId: event.id, runNumber, pageSize: RESULTS_PAGE, pageToken: pages.at(-1) ?? "" },
    { retry: retryUnlessRefused, placeholderData: keepPreviousData },
  );
  const state = scores.data?.final ? "final board" : "board (being finalized)";
  return (
    <>
      {scores.isPending && <Loading what={`run ${runNumber}'s board`} />}
      <ErrorNotice error={scores.error} />
      {scores.data && (
        <>
          <ScoreTable
            entries={scores.data.scores}
            tiers={event.leaderboard?.prizeTiers ?? []}
            caption={`Run ${runNumber}: ${state}`}
          />
          {(pages.length > 1 || scores.data.nextPageToken) && (
            <Pager pages={pages} setPages={setPages} nextPageToken={scores.data.nextPageToken} />
          )}
        </>
      )}
      <Grants eventId={event.id} runNumber={runNumber} />
    </>
  );
}

/** The reward grants of one run: who won what, and whether they claimed it. */
function Grants({ eventId, runNumber }: { eventId: string; runNumber: bigint }) {
  const [pages, setPages] = useState([""]);
  const grants = useQuery(
    RewardService.method.listRewardGrants,
    { eventId, runNumber, pageSize: 50, pageToken: pages.at(-1) ?? "" },
    { retry: retryUnlessRefused, placeholderData: keepPreviousData },
  );
  const rows = [...(grants.data?.grants ?? [])].sort((a, b) => Number(a.rank - b.rank));
  return (
    <>
      {grants.isPending && <Loading what="grants" />}
      <ErrorNotice error={grants.error} />
      {grants.data && (
        <div className="table-wrap">
          <table className="grants-table">
            <caption>Run {runNumber.toString()}: rewards granted</caption>
            <thead>
              <tr>
                <th scope="col">Player</th>
                <th scope="col" className="number">
                  Rank
                </th>
                <th scope="col">Rewards</th>
                <th scope="col">Granted</th>
                <th scope="col">Claimed</th>
              </tr>
            </thead>
            <tbody>
              {rows.length === 0 && (
                <tr>
                  <td colSpan={5} className="empty">
                    No rewards were granted in this run.
                  </td>
                </tr>
              )}
              {rows.map((grant) => (
                <GrantRow key={grant.id} grant={grant} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {grants.data && (pages.length > 1 || grants.data.nextPageToken) && (
        <Pager pages={pages} setPages={setPages} nextPageToken={grants.data.nextPageToken} />
      )}
    </>
  );
}

function GrantRow({ grant }: { grant: RewardGrant }) {
  return (
    <tr data-player-id={grant.playerId}>
      <td>{grant.playerId}</td>
      <td className="number">{formatNumber(grant.rank)}</td>
      <td>{rewardsInWords(grant.rewards)}</td>
      <td>
        <Time value={grant.grantTime} />
      </td>
      <td>{grant.claimTime ? <Time value={grant.claimTime} /> : <span className="muted">not yet</span>}</td>
    </tr>
  );
}
