import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { useQuery, useTransport } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { Search, Trophy } from "lucide-react";
import { type FormEvent, type RefObject, useEffect, useRef, useState } from "react";
import {
  type Event,
  type EventRun,
  type Leaderboard,
  LeaderboardOrder,
  type PrizeTier,
  type Reward,
  ScoreOperator,
} from "../../gen/liveops/v1/event_pb.js";
import { LeaderboardService, type ScoreEntry } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { ErrorNotice, formatNumber, Loading, Pager, Time } from "./components.js";
import { retryUnlessRefused } from "./errors.js";

const PAGE_SIZE = 25;

/** Rewards in words: "500 Gems, 1 Golden crown". */
export function rewardsInWords(rewards: readonly Reward[]): string {
  return rewards.map((r) => `${formatNumber(r.quantity)} ${r.name}`).join(", ");
}

/** A prize tier's ranks in words: "Rank 1" or "Ranks 2–10". */
export function tierRanks(tier: PrizeTier): string {
  return tier.rankFrom === tier.rankTo ? `Rank ${tier.rankFrom}` : `Ranks ${tier.rankFrom}–${tier.rankTo}`;
}

/** The index of the prize tier a rank falls in, or -1. */
function tierOf(tiers: readonly PrizeTier[], rank: bigint): number {
  return tiers.findIndex((t) => rank >= BigInt(t.rankFrom) && rank <= BigInt(t.rankTo));
}

/** Consecutive entries of one prize tier (-1: no prize). */
interface Band {
  tier: number;
  entries: ScoreEntry[];
}

/** Splits entries (by rank) into bands of consecutive entries that share a prize tier. */
export function prizeBands(entries: readonly ScoreEntry[], tiers: readonly PrizeTier[]): Band[] {
  const bands: Band[] = [];
  for (const entry of entries) {
    const tier = tierOf(tiers, entry.rank);
    const last = bands.at(-1);
    if (last && last.tier === tier) last.entries.push(entry);
    else bands.push({ tier, entries: [entry] });
  }
  return bands;
}

/**
 * A board by rank, its rows grouped under their prize tier ("Ranks 1–3: 500 Gems"). The subscore column is shown
 * only when some entry has one.
 */
export function ScoreTable({
  entries,
  tiers,
  caption,
  highlight,
}: {
  entries: readonly ScoreEntry[];
  tiers: readonly PrizeTier[];
  caption: string;
  /** A player whose row is marked (a search's result). */
  highlight?: string | undefined;
}) {
  const withSubscore = entries.some((e) => e.subscore !== 0n);
  const columns = withSubscore ? 6 : 5;
  return (
    <div className="table-wrap">
      <table className="score-table">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col" className="number">
              Rank
            </th>
            <th scope="col">Player</th>
            <th scope="col" className="number">
              Score
            </th>
            {withSubscore && (
              <th scope="col" className="number">
                Subscore
              </th>
            )}
            <th scope="col" className="number">
              Submissions
            </th>
            <th scope="col">Last change</th>
          </tr>
        </thead>
        {entries.length === 0 && (
          <tbody>
            <tr>
              <td colSpan={columns} className="empty">
                No scores yet.
              </td>
            </tr>
          </tbody>
        )}
        {prizeBands(entries, tiers).map((band) => (
          <tbody key={`${band.tier}-${band.entries[0]?.rank}`} className={band.tier >= 0 ? "prize-band" : undefined}>
            {tiers.length > 0 && (
              <tr className="band-heading">
                <th scope="rowgroup" colSpan={columns}>
                  {band.tier >= 0 ? (
                    <>
                      <Trophy className="icon band-icon" aria-hidden />
                      {tierRanks(tiers[band.tier] as PrizeTier)}:{" "}
                      {rewardsInWords((tiers[band.tier] as PrizeTier).rewards)}
                    </>
                  ) : (
                    "No prize"
                  )}
                </th>
              </tr>
            )}
            {band.entries.map((entry) => (
              <tr
                key={entry.playerId}
                data-player-id={entry.playerId}
                className={entry.playerId === highlight ? "highlight" : undefined}
                aria-current={entry.playerId === highlight ? "true" : undefined}
              >
                <td className="number">{formatNumber(entry.rank)}</td>
                <td>{entry.playerId}</td>
                <td className="number">{formatNumber(entry.score)}</td>
                {withSubscore && <td className="number">{formatNumber(entry.subscore)}</td>}
                <td className="number">{formatNumber(entry.submissions)}</td>
                <td>
                  <Time value={entry.updateTime} />
                </td>
              </tr>
            ))}
          </tbody>
        ))}
      </table>
    </div>
  );
}

/** The prize tiers of a board, as a list. */
export function PrizeList({ tiers }: { tiers: readonly PrizeTier[] }) {
  if (tiers.length === 0) return <p className="muted">No prizes: this board ranks players without granting rewards.</p>;
  return (
    <ul className="prize-list" aria-label="Prizes">
      {tiers.map((tier) => (
        <li key={tier.rankFrom}>
          <Trophy className="icon band-icon" aria-hidden />
          <strong>{tierRanks(tier)}</strong>: {rewardsInWords(tier.rewards)}
        </li>
      ))}
    </ul>
  );
}

const ORDER_WORDS: Record<LeaderboardOrder, string> = {
  [LeaderboardOrder.UNSPECIFIED]: "",
  [LeaderboardOrder.HIGHER_FIRST]: "higher scores rank first",
  [LeaderboardOrder.LOWER_FIRST]: "lower scores rank first",
};
const OPERATOR_WORDS: Record<ScoreOperator, string> = {
  [ScoreOperator.UNSPECIFIED]: "",
  [ScoreOperator.BEST]: "a player's best score counts",
  [ScoreOperator.SET]: "each submission replaces the score",
  [ScoreOperator.INCR]: "submissions add up",
  [ScoreOperator.DECR]: "submissions subtract",
};

/** A board's rules in one sentence. */
export function boardRules(board: Leaderboard): string {
  const parts = [ORDER_WORDS[board.order], OPERATOR_WORDS[board.scoreOperator]].filter(Boolean);
  parts.push(board.joinRequired ? "players join before they submit" : "a first score joins the player");
  if (board.maxParticipants > 0) parts.push(`at most ${formatNumber(board.maxParticipants)} players per run`);
  if (board.maxSubmissions > 0) parts.push(`at most ${formatNumber(board.maxSubmissions)} submissions per player`);
  const text = parts.join("; ");
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/**
 * While `live`, watches the event's live board (WatchLeaderboard) and calls `onChange` whenever it changes; returns
 * the run's participants as last reported.
 */
function useBoardChanges(eventId: string, live: boolean, onChange: () => void) {
  const transport = useTransport();
  const changed = useRef(onChange);
  changed.current = onChange;
  const [participants, setParticipants] = useState<bigint>();
  useEffect(() => {
    setParticipants(undefined);
    if (!live) return;
    const abort = new AbortController();
    (async () => {
      const client = createClient(LeaderboardService, transport);
      while (!abort.signal.aborted) {
        try {
          let first = true;
          for await (const message of client.watchLeaderboard({ eventId, topN: 1 }, { signal: abort.signal })) {
            setParticipants(message.participants);
            if (!first) changed.current();
            first = false;
          }
        } catch {
          if (abort.signal.aborted) return;
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    })();
    return () => abort.abort();
  }, [transport, eventId, live]);
  return participants;
}

/** A run in the picker's words. */
function runLabel(run: EventRun, live: boolean): string {
  if (live) return `Run ${run.runNumber} — live`;
  const end = run.endTime ? new Date(Number(run.endTime.seconds) * 1000).toLocaleString() : "";
  return `Run ${run.runNumber} — ended ${end}`;
}

/**
 * An event's board: the live run, or the last run when none is live (or the run picked); prize bands; player
 * search; live while the run is.
 */
export function LeaderboardView({ event, startedRuns }: { event: Event; startedRuns: readonly EventRun[] }) {
  const board = event.leaderboard as Leaderboard;
  const [picked, setPicked] = useState<bigint>();
  const [pages, setPages] = useState<string[]>([""]);
  const started = event.currentRun !== undefined || startedRuns.length > 0;
  const scores = useQuery(
    LeaderboardService.method.listScores,
    { eventId: event.id, runNumber: picked ?? 0n, pageSize: PAGE_SIZE, pageToken: pages.at(-1) ?? "" },
    { enabled: started, retry: retryUnlessRefused, placeholderData: keepPreviousData },
  );
  const shownRun = scores.data?.runNumber ?? picked;
  const live = shownRun !== undefined && event.currentRun?.runNumber === shownRun;
  const searchRefetch = useRef<() => void>(() => {});
  const participants = useBoardChanges(event.id, live, () => {
    scores.refetch();
    searchRefetch.current();
  });

  const runs = [...startedRuns];
  if (event.currentRun && !runs.some((r) => r.runNumber === event.currentRun?.runNumber)) {
    runs.unshift(event.currentRun);
  }
  const pick = (value: string) => {
    setPicked(BigInt(value));
    setPages([""]);
  };

  let caption = "";
  if (scores.data) {
    const state = live ? "live" : scores.data.final ? "final" : "ended, being finalized";
    const count = live && participants !== undefined ? ` · ${formatNumber(participants)} players` : "";
    caption = `Run ${scores.data.runNumber} — ${state}${count}`;
  }

  return (
    <section className="card leaderboard" aria-labelledby="board-heading">
      <h3 id="board-heading">
        <Trophy className="icon" aria-hidden /> Leaderboard
      </h3>
      <p className="muted">{boardRules(board)}</p>
      <PrizeList tiers={board.prizeTiers} />
      {!started ? (
        <p className="empty">
          No run has started yet: the board opens when the first run starts
          {event.nextRunStartTime && (
            <>
              {" "}
              (<Time value={event.nextRunStartTime} />)
            </>
          )}
          .
        </p>
      ) : (
        <>
          <div className="toolbar board-toolbar">
            <label htmlFor="board-run">Run</label>
            <select id="board-run" value={shownRun?.toString() ?? ""} onChange={(e) => pick(e.target.value)}>
              {shownRun === undefined && <option value="">Latest run</option>}
              {shownRun !== undefined && !runs.some((r) => r.runNumber === shownRun) && (
                <option value={shownRun.toString()}>Run {shownRun.toString()}</option>
              )}
              {runs.map((run) => (
                <option key={run.runNumber.toString()} value={run.runNumber.toString()}>
                  {runLabel(run, run.runNumber === event.currentRun?.runNumber)}
                </option>
              ))}
            </select>
            {live && <span className="badge badge-live">● Updating live</span>}
          </div>
          <PlayerSearch eventId={event.id} runNumber={shownRun} tiers={board.prizeTiers} refetchRef={searchRefetch} />
          {scores.isPending && <Loading what="the board" />}
          <ErrorNotice error={scores.error} />
          {scores.data && (
            <>
              <ScoreTable entries={scores.data.scores} tiers={board.prizeTiers} caption={caption} />
              {(pages.length > 1 || scores.data.nextPageToken) && (
                <Pager pages={pages} setPages={setPages} nextPageToken={scores.data.nextPageToken} />
              )}
            </>
          )}
        </>
      )}
    </section>
  );
}

/** Finds a player on the board of a run: its entry and its neighbours, or that it is not on the board. */
function PlayerSearch({
  eventId,
  runNumber,
  tiers,
  refetchRef,
}: {
  eventId: string;
  runNumber: bigint | undefined;
  tiers: readonly PrizeTier[];
  /** Where the board puts the refetch of this search, which it calls when the live board changes. */
  refetchRef: RefObject<() => void>;
}) {
  const [text, setText] = useState("");
  const [playerId, setPlayerId] = useState("");
  const enabled = playerId !== "" && runNumber !== undefined;
  const request = { eventId, playerId, runNumber: runNumber ?? 0n };
  const entry = useQuery(LeaderboardService.method.getPlayerScore, request, { enabled, retry: retryUnlessRefused });
  const around = useQuery(
    LeaderboardService.method.listScoresAroundPlayer,
    { ...request, count: 2 },
    { enabled: enabled && entry.isSuccess, retry: retryUnlessRefused },
  );
  refetchRef.current = () => {
    if (!enabled) return;
    entry.refetch();
    around.refetch();
  };
  const absent = entry.error && ConnectError.from(entry.error).code === Code.NotFound;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setPlayerId(text.trim());
  };
  return (
    <div className="player-search">
      <form aria-label="Find a player on this board" className="toolbar" onSubmit={submit}>
        <label htmlFor="board-player">Player id</label>
        <input id="board-player" value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" />
        <button type="submit" disabled={text.trim() === ""}>
          <Search className="icon" aria-hidden />
          Find
        </button>
        {playerId && (
          <button
            type="button"
            onClick={() => {
              setText("");
              setPlayerId("");
            }}
          >
            Clear
          </button>
        )}
      </form>
      {enabled && (
        <div role="status" className="search-result">
          {entry.isPending && <span className="muted">Looking for {playerId}…</span>}
          {absent && (
            <p>
              <strong>{playerId}</strong> is not on this board (run {runNumber?.toString()}).
            </p>
          )}
          {entry.data?.entry && (
            <p>
              <strong>{playerId}</strong> is ranked {formatNumber(entry.data.entry.rank)} with{" "}
              {formatNumber(entry.data.entry.score)} points
              {tierOf(tiers, entry.data.entry.rank) >= 0 &&
                ` — in the prize band ${tierRanks(tiers[tierOf(tiers, entry.data.entry.rank)] as PrizeTier)}`}
              .
            </p>
          )}
        </div>
      )}
      {!absent && <ErrorNotice error={entry.error ?? around.error} />}
      {around.data && entry.data && (
        <ScoreTable entries={around.data.scores} tiers={tiers} caption={`Around ${playerId}`} highlight={playerId} />
      )}
    </div>
  );
}
