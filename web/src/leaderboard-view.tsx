import { createClient } from "@connectrpc/connect";
import { useQuery, useTransport } from "@connectrpc/connect-query";
import { useEffect, useState } from "react";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import {
  LeaderboardService,
  type ScoreEntry,
  type WatchLeaderboardResponse,
} from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { ErrorNotice, Loading, Time } from "./components.js";

function ScoreTable({ entries, caption }: { entries: ScoreEntry[]; caption: string }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Rank</th>
          <th scope="col">Player</th>
          <th scope="col">Score</th>
          <th scope="col">Subscore</th>
          <th scope="col">Updated</th>
        </tr>
      </thead>
      <tbody>
        {entries.length === 0 && (
          <tr>
            <td colSpan={5} className="muted">
              No scores yet.
            </td>
          </tr>
        )}
        {entries.map((entry) => (
          <tr key={entry.playerId} data-player-id={entry.playerId}>
            <td>{entry.rank.toString()}</td>
            <td>{entry.playerId}</td>
            <td>{entry.score.toString()}</td>
            <td>{entry.subscore.toString()}</td>
            <td>
              <Time value={entry.updateTime} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The live top N of an event's board through WatchLeaderboard, and any past run's final board. */
export function LeaderboardView({ eventId, onBack }: { eventId: string; onBack: () => void }) {
  const transport = useTransport();
  const event = useQuery(EventService.method.getEvent, { id: eventId });
  const [topN, setTopN] = useState(10);
  const [live, setLive] = useState<WatchLeaderboardResponse>();
  const [error, setError] = useState<unknown>();
  const [pastRun, setPastRun] = useState("");
  const past = useQuery(
    LeaderboardService.method.listScores,
    { eventId, runNumber: BigInt(/^\d+$/.test(pastRun) ? pastRun : "0"), pageSize: 100 },
    { enabled: /^[1-9]\d*$/.test(pastRun) },
  );

  useEffect(() => {
    const abort = new AbortController();
    setLive(undefined);
    setError(undefined);
    (async () => {
      try {
        const client = createClient(LeaderboardService, transport);
        for await (const message of client.watchLeaderboard({ eventId, topN }, { signal: abort.signal })) {
          setLive(message);
        }
      } catch (err) {
        if (!abort.signal.aborted) setError(err);
      }
    })();
    return () => abort.abort();
  }, [transport, eventId, topN]);

  return (
    <section aria-labelledby="board-heading">
      <div className="toolbar">
        <button type="button" onClick={onBack}>
          ← Events
        </button>
        <h2 id="board-heading">Leaderboard: {event.data?.event?.title ?? "…"}</h2>
        <label htmlFor="top-n">Show top</label>
        <select id="top-n" value={topN} onChange={(e) => setTopN(Number(e.target.value))}>
          {[10, 25, 50, 100].map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </div>
      <ErrorNotice error={error ?? event.error} />
      {!live && !error && <Loading what="the live board" />}
      {live &&
        (live.runNumber === 0n ? (
          <p className="muted">No run is live now.</p>
        ) : (
          <ScoreTable
            entries={live.top}
            caption={`Run ${live.runNumber} — live, ${live.participants} participants (updated ${new Date().toLocaleTimeString()})`}
          />
        ))}
      <h3>Past runs</h3>
      <label htmlFor="past-run">Run number</label>{" "}
      <input id="past-run" inputMode="numeric" value={pastRun} onChange={(e) => setPastRun(e.target.value)} />
      {past.isFetching && <Loading what="the run" />}
      <ErrorNotice error={past.error} />
      {past.data && (
        <ScoreTable
          entries={past.data.scores}
          caption={`Run ${past.data.runNumber}${past.data.final ? " — final" : ""}`}
        />
      )}
    </section>
  );
}
