import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { LeaderboardOrder } from "../../gen/liveops/v1/event_pb.js";
import type { Db, Tx } from "../db/database.js";
import { eventRuns, events, rewardGrants, scores } from "../db/schema.js";
import { type EventRow, leaderboardOf, type RunRow } from "../events/event-record.js";
import { rewardsToStored } from "../rewards/reward-codec.js";
import { type Board, createBoard, type ScoreRecord } from "./board.js";
import { rewardsOfRank } from "./leaderboard-config.js";

/** A row of `scores` as SQLite returns it. */
interface ScoreColumns {
  player_id: string;
  score: number | null;
  subscore: number | null;
  reached_seq: number | null;
  submissions: number;
  metadata: string | null;
  update_time: number | null;
  final_rank?: number | null;
}

const recordOf = (c: ScoreColumns): ScoreRecord => ({
  playerId: c.player_id,
  score: c.score,
  subscore: c.subscore,
  seq: c.reached_seq,
  submissions: c.submissions,
  metadata: c.metadata,
  updateTime: c.update_time,
});

const COLUMNS = "player_id, score, subscore, reached_seq, submissions, metadata, update_time";

/** The ORDER BY of a board's ranking; the same order as {@link compareEntries} in board.ts. */
function rankingOrder(order: LeaderboardOrder): string {
  const direction = order === LeaderboardOrder.LOWER_FIRST ? "ASC" : "DESC";
  return `score ${direction}, subscore ${direction}, reached_seq ASC, player_id ASC`;
}

/** Points inside the store's work where a test may act (the crash test of finalization kills the process). */
export interface ScoreStoreHooks {
  /** Called after each reward grant a finalization writes, inside its transaction. */
  grantWritten?(written: number, total: number): void;
}

/**
 * Scores: the boards of runs in memory (rebuilt from SQLite the first time a run is used, and at start-up for the
 * live runs), the ranks of finalized runs in SQLite, and finalization itself.
 */
export function createScoreStore(db: Db, hooks: ScoreStoreHooks = {}) {
  const boards = new Map<string, Board>();
  const loadRun = db.$client.prepare<[string, number], ScoreColumns>(
    `SELECT ${COLUMNS} FROM scores WHERE event_id = ? AND run_number = ?`,
  );
  const finalPage = db.$client.prepare<[string, number, number, number], ScoreColumns & { final_rank: number }>(
    `SELECT ${COLUMNS}, final_rank FROM scores WHERE event_id = ? AND run_number = ? AND final_rank > ? ORDER BY final_rank LIMIT ?`,
  );
  const finalRankOf = db.$client.prepare<[string, number, string], ScoreColumns & { final_rank: number | null }>(
    `SELECT ${COLUMNS}, final_rank FROM scores WHERE event_id = ? AND run_number = ? AND player_id = ?`,
  );
  let seq =
    db.$client.prepare<[], { seq: number | null }>("SELECT max(reached_seq) AS seq FROM scores").get()?.seq ?? 0;
  const key = (eventId: string, runNumber: number) => `${eventId}/${runNumber}`;

  return {
    /** The board of a run that is not finalized, loaded from SQLite the first time. */
    boardOf(eventId: string, runNumber: number, order: LeaderboardOrder): Board {
      let board = boards.get(key(eventId, runNumber));
      // A board made under another order (the leaderboard changed between runs) is made again.
      if (!board || board.order !== order) {
        board = createBoard(order, loadRun.all(eventId, runNumber).map(recordOf));
        boards.set(key(eventId, runNumber), board);
      }
      return board;
    },

    /** Forgets the boards of a deleted event. */
    dropEvent(eventId: string) {
      for (const k of boards.keys()) if (k.startsWith(`${eventId}/`)) boards.delete(k);
    },

    /** Loads the boards of every run live at `now`: a restarted server answers its first rank at once. */
    preloadLiveBoards(now: number): number {
      const live = db
        .select({ eventId: eventRuns.eventId, runNumber: eventRuns.runNumber, leaderboard: events.leaderboard })
        .from(eventRuns)
        .innerJoin(events, eq(events.id, eventRuns.eventId))
        .where(
          and(
            sql`${eventRuns.startTime} <= ${now}`,
            sql`${eventRuns.endTime} > ${now}`,
            sql`${events.leaderboard} IS NOT NULL`,
          ),
        )
        .all();
      for (const run of live) {
        const order = (JSON.parse(run.leaderboard as string) as { order: LeaderboardOrder }).order;
        this.boardOf(run.eventId, run.runNumber, order);
      }
      return live.length;
    },

    /** The next tie-break number: who reaches a score first ranks first among equals. */
    nextSeq: () => ++seq,

    /** A finalized run's entries from rank `after + 1`, with their final ranks. */
    finalEntries(eventId: string, runNumber: number, after: number, limit: number) {
      return finalPage.all(eventId, runNumber, after, limit).map((c) => ({ record: recordOf(c), rank: c.final_rank }));
    },

    /** A player's entry of a finalized run with its final rank, if the player scored. */
    finalEntryOf(eventId: string, runNumber: number, playerId: string) {
      const c = finalRankOf.get(eventId, runNumber, playerId);
      return c && c.final_rank !== null ? { record: recordOf(c), rank: c.final_rank } : undefined;
    },

    /**
     * Finalizes a run that has ended, inside the transaction that announces its end: final ranks, and one reward
     * grant per ranked player in a prize tier (unique per run and player). All or nothing: a crash in the middle
     * leaves the run unfinalized, and the scheduler finalizes it after the restart.
     */
    finalizeRun(tx: Tx, row: EventRow, run: RunRow, now: number): void {
      if (run.finalized) return;
      const config = leaderboardOf(row);
      if (config) {
        const ranked = db.$client
          .prepare<[string, number], { player_id: string }>(
            `SELECT player_id FROM scores WHERE event_id = ? AND run_number = ? AND score IS NOT NULL ORDER BY ${rankingOrder(config.order)}`,
          )
          .all(row.id, run.runNumber);
        const setRank = db.$client.prepare<[number, string, number, string]>(
          "UPDATE scores SET final_rank = ? WHERE event_id = ? AND run_number = ? AND player_id = ?",
        );
        const winners = ranked.flatMap((entry, i) => {
          setRank.run(i + 1, row.id, run.runNumber, entry.player_id);
          const rewards = rewardsOfRank(config, i + 1);
          return rewards ? [{ playerId: entry.player_id, rank: i + 1, rewards }] : [];
        });
        winners.forEach((winner, i) => {
          tx.insert(rewardGrants)
            .values({
              id: randomUUID(),
              eventId: row.id,
              runNumber: run.runNumber,
              playerId: winner.playerId,
              rank: winner.rank,
              rewards: JSON.stringify(rewardsToStored(winner.rewards)),
              grantTime: now,
            })
            .onConflictDoNothing()
            .run();
          hooks.grantWritten?.(i + 1, winners.length);
        });
      }
      tx.update(eventRuns)
        .set({ finalized: true })
        .where(and(eq(eventRuns.eventId, row.id), eq(eventRuns.runNumber, run.runNumber)))
        .run();
      boards.delete(key(row.id, run.runNumber));
    },

    /** Adds a player to a run without a score, inside a write. */
    insertParticipant(tx: Tx, entry: { eventId: string; runNumber: number; playerId: string; now: number }) {
      tx.insert(scores)
        .values({ eventId: entry.eventId, runNumber: entry.runNumber, playerId: entry.playerId, joinTime: entry.now })
        .run();
    },

    /** Stores a player's new score in a run (`record.seq` is the order in which its pair was reached), in a write. */
    updateScore(tx: Tx, eventId: string, runNumber: number, record: ScoreRecord) {
      tx.update(scores)
        .set({
          score: record.score,
          subscore: record.subscore,
          reachedSeq: record.seq,
          submissions: record.submissions,
          metadata: record.metadata,
          updateTime: record.updateTime,
        })
        .where(and(eq(scores.eventId, eventId), eq(scores.runNumber, runNumber), eq(scores.playerId, record.playerId)))
        .run();
    },

    /** Whether a player has an entry (joined) in a run, read inside a write. */
    participantRow(tx: Tx, eventId: string, runNumber: number, playerId: string) {
      return tx
        .select()
        .from(scores)
        .where(and(eq(scores.eventId, eventId), eq(scores.runNumber, runNumber), eq(scores.playerId, playerId)))
        .get();
    },
  };
}

/** The score store the leaderboard service uses. */
export type ScoreStore = ReturnType<typeof createScoreStore>;
