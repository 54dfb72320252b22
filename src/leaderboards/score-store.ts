import { randomUUID } from "node:crypto";
import { type SQL, sql } from "drizzle-orm";
import { LeaderboardOrder } from "../../gen/liveops/v1/event_pb.js";
import { appendClusterChange } from "../cluster/cluster-changes.js";
import type { SqlClient, Storage, Transaction } from "../db/storage.js";
import { type EventRow, leaderboardOf, type RunRow } from "../events/event-record.js";
import { rewardsToStored } from "../rewards/reward-codec.js";
import { type Board, createBoardBuilder, joinedEntry, type ScoreRecord } from "./board.js";
import { rewardsOfRank } from "./leaderboard-config.js";

/** The columns of a {@link ScoreRecord}. */
const RECORD_COLUMNS = sql.raw(`player_id AS "playerId", score, subscore, reached_seq AS seq, submissions, metadata,
  update_time AS "updateTime"`);

/** The ORDER BY of a board's ranking; the same order as {@link compareEntries} in board.ts. */
function rankingOrder(order: LeaderboardOrder): SQL {
  return order === LeaderboardOrder.LOWER_FIRST
    ? sql.raw("score ASC, subscore ASC, reached_seq ASC, player_id ASC")
    : sql.raw("score DESC, subscore DESC, reached_seq ASC, player_id ASC");
}

/** Rows per statement when a board is read from the database. */
const LOAD_PAGE = 10_000;

/** The participants a run counts (event_runs.participants): how many entries its board will hold. */
async function participantsOf(client: SqlClient, eventId: string, runNumber: number): Promise<number> {
  const row = await client.get<{ participants: number }>(
    sql`SELECT participants FROM event_runs WHERE event_id = ${eventId} AND run_number = ${runNumber}`,
  );
  return row?.participants ?? 0;
}

/** Points inside the store's work where a test may act (the crash test of finalization kills the process). */
export interface ScoreStoreHooks {
  /** Called after each reward grant a finalization writes, inside its transaction. */
  grantWritten?(written: number, total: number): void;
}

/** A player's entry as the cluster change log carries it (kind "score", subject: the event id). */
export interface LoggedScore {
  runNumber: number;
  record: ScoreRecord;
}

/** The outcome of adding a player to a run. */
export type ParticipantAdded = { kind: "added"; participants: number } | { kind: "present" } | { kind: "full" };

/**
 * Scores: the boards of runs in memory (rebuilt from the database the first time a run is used, and at start-up
 * for the live runs), the ranks of finalized runs in the database, and finalization itself.
 */
export function createScoreStore(storage: Storage, hooks: ScoreStoreHooks = {}) {
  const { reads } = storage;
  const boards = new Map<string, Board>();
  const loading = new Map<string, Promise<Board>>();
  /**
   * Entries logged (by any instance) while a board was being read from the database, by board: the read may predate
   * them, so they are applied to the board it makes. Counted, as several reads of one board may overlap.
   */
  const loggedDuringLoads = new Map<string, { loads: number; records: ScoreRecord[] }>();
  /** The last tie-break number given on SQLite; read from the database once. */
  let seq: number | undefined;
  const key = (eventId: string, runNumber: number) => `${eventId}/${runNumber}`;

  const loadBoard = async (
    eventId: string,
    runNumber: number,
    order: LeaderboardOrder,
    client: SqlClient,
  ): Promise<Board> => {
    const k = key(eventId, runNumber);
    const during = loggedDuringLoads.get(k) ?? { loads: 0, records: [] };
    during.loads++;
    loggedDuringLoads.set(k, during);
    try {
      // Pages in primary-key order (each one an index range): the rows of a page are garbage once in the board's
      // columns, where one statement of a million rows would keep a million objects alive for the collector to copy.
      const builder = createBoardBuilder(order, { capacity: await participantsOf(client, eventId, runNumber) });
      let after: string | undefined;
      for (;;) {
        const page = await client.all<ScoreRecord>(sql`
          SELECT ${RECORD_COLUMNS} FROM scores WHERE event_id = ${eventId} AND run_number = ${runNumber}
            ${after === undefined ? sql.empty() : sql`AND player_id > ${after}`}
          ORDER BY player_id LIMIT ${LOAD_PAGE}`);
        builder.add(page);
        if (page.length < LOAD_PAGE) break;
        after = page[page.length - 1]?.playerId;
      }
      const board = builder.build();
      // Entries never go back (see Board.apply): one logged before the read and seen by it changes nothing.
      board.apply(during.records);
      return board;
    } finally {
      if (--during.loads === 0) loggedDuringLoads.delete(k);
    }
  };

  /**
   * Counts the drops: a board read before a drop is returned to its caller but not kept (it may miss what the drop
   * was for, e.g. entries of a change log read afresh, or a finalization).
   */
  let drops = 0;
  /** Forgets a board; its watchers are woken to read the run afresh. */
  const drop = (k: string) => {
    drops++;
    const board = boards.get(k);
    boards.delete(k);
    board?.retire();
  };
  /** Keeps a board read since `dropsBefore` drops unless a drop came meanwhile or another was kept first. */
  const keep = (k: string, loaded: Board, dropsBefore: number): Board => {
    const current = boards.get(k);
    if (current && current.order === loaded.order) return current;
    if (drops === dropsBefore) boards.set(k, loaded);
    return loaded;
  };

  return {
    /**
     * The board of a run that is not finalized, loaded from the database the first time (through `client`: a unit of
     * work reads through its own transaction, never waiting for a second connection while it holds one).
     */
    async boardOf(
      eventId: string,
      runNumber: number,
      order: LeaderboardOrder,
      client: SqlClient = reads,
    ): Promise<Board> {
      const k = key(eventId, runNumber);
      const board = boards.get(k);
      // A board made under another order (the leaderboard changed between runs) is made again.
      if (board && board.order === order) return board;
      // Loads outside a unit of work are shared; a unit loads through its own transaction and never waits for a
      // load that needs another pooled connection (the pool could be all units waiting for one another).
      const dropsBefore = drops;
      if (client !== reads) return keep(k, await loadBoard(eventId, runNumber, order, client), dropsBefore);
      let load = loading.get(k);
      if (!load) {
        load = loadBoard(eventId, runNumber, order, client).finally(() => loading.delete(k));
        loading.set(k, load);
        return keep(k, await load, dropsBefore);
      }
      return load;
    },

    /** The board of a run if it is kept now (never read from the database here). */
    keptBoard(eventId: string, runNumber: number): Board | undefined {
      return boards.get(key(eventId, runNumber));
    },

    /** Forgets the board of a run once its finalization has committed (its final ranks are read from then on). */
    dropRun(eventId: string, runNumber: number) {
      drop(key(eventId, runNumber));
    },

    /** Forgets the boards of a deleted event. */
    dropEvent(eventId: string) {
      for (const k of [...boards.keys()]) if (k.startsWith(`${eventId}/`)) drop(k);
    },

    /** Forgets every board: they are read from the database again when next used (the change log was left behind). */
    dropAll() {
      for (const k of [...boards.keys()]) drop(k);
    },

    /**
     * Applies an entry read from the cluster change log (written by this instance or another) to the board in memory,
     * if it is kept or being read. Applying an entry twice, or an older one, changes nothing.
     */
    applyLogged(eventId: string, logged: LoggedScore) {
      const k = key(eventId, logged.runNumber);
      boards.get(k)?.apply([logged.record]);
      loggedDuringLoads.get(k)?.records.push(logged.record);
    },

    /** Loads the boards of every run live at `now`: a restarted server answers its first rank at once. */
    async preloadLiveBoards(now: number): Promise<number> {
      const live = await reads.all<{ eventId: string; runNumber: number; leaderboard: string }>(sql`
        SELECT r.event_id AS "eventId", r.run_number AS "runNumber", e.leaderboard
        FROM event_runs r JOIN events e ON e.id = r.event_id
        WHERE r.start_time <= ${now} AND r.end_time > ${now} AND e.leaderboard IS NOT NULL`);
      for (const run of live) {
        const order = (JSON.parse(run.leaderboard) as { order: LeaderboardOrder }).order;
        await this.boardOf(run.eventId, run.runNumber, order);
      }
      return live.length;
    },

    /**
     * The next tie-break number (who reaches a score first ranks first among equals), inside a write. PostgreSQL hands
     * them to every instance from one sequence; SQLite's one server counts in memory.
     */
    async nextSeq(tx: Transaction): Promise<number> {
      if (tx.dialect === "postgres") {
        const row = await tx.get<{ seq: number }>(sql`SELECT nextval('scores_reached_seq') AS seq`);
        if (!row) throw new Error("nextval returned no row");
        return row.seq;
      }
      if (seq === undefined) {
        const row = await tx.get<{ seq: number | null }>(sql`SELECT max(reached_seq) AS seq FROM scores`);
        // Another call may have loaded it meanwhile: the larger is kept, numbers are never given twice.
        seq = Math.max(seq ?? 0, row?.seq ?? 0);
      }
      seq += 1;
      return seq;
    },

    /** A finalized run's entries from rank `after + 1`, with their final ranks. */
    async finalEntries(eventId: string, runNumber: number, after: number, limit: number) {
      const rows = await reads.all<ScoreRecord & { rank: number }>(sql`
        SELECT ${RECORD_COLUMNS}, final_rank AS rank FROM scores
        WHERE event_id = ${eventId} AND run_number = ${runNumber} AND final_rank > ${after}
        ORDER BY final_rank LIMIT ${limit}`);
      return rows.map(({ rank, ...record }) => ({ record, rank }));
    },

    /** A player's entry of a finalized run with its final rank, if the player scored. */
    async finalEntryOf(eventId: string, runNumber: number, playerId: string) {
      const row = await reads.get<ScoreRecord & { rank: number | null }>(sql`
        SELECT ${RECORD_COLUMNS}, final_rank AS rank FROM scores
        WHERE event_id = ${eventId} AND run_number = ${runNumber} AND player_id = ${playerId}`);
      if (!row || row.rank === null) return undefined;
      const { rank, ...record } = row;
      return { record, rank };
    },

    /**
     * Finalizes a run that has ended, inside the transaction that announces its end: final ranks, and one reward
     * grant per ranked player in a prize tier (unique per run and player). All or nothing: a crash in the middle
     * leaves the run unfinalized, and the scheduler finalizes it after the restart. Exactly once: the first
     * transaction to mark the run finalized does it; any other finds it marked.
     */
    async finalizeRun(tx: Transaction, row: EventRow, run: RunRow, now: number): Promise<void> {
      const marked = await tx.run(sql`
        UPDATE event_runs SET finalized = ${true}
        WHERE event_id = ${row.id} AND run_number = ${run.runNumber} AND finalized = ${false}`);
      if (marked === 0) return;
      const config = leaderboardOf(row);
      if (config) {
        const order = rankingOrder(config.order);
        await tx.run(sql`
          UPDATE scores SET final_rank = ranked.position
          FROM (SELECT player_id, row_number() OVER (ORDER BY ${order}) AS position FROM scores
            WHERE event_id = ${row.id} AND run_number = ${run.runNumber} AND score IS NOT NULL) AS ranked
          WHERE scores.event_id = ${row.id} AND scores.run_number = ${run.runNumber}
            AND scores.player_id = ranked.player_id`);
        const lastPrized = config.prizeTiers.reduce((last, tier) => Math.max(last, tier.rankTo), 0);
        const ranked = await tx.all<{ playerId: string; rank: number }>(sql`
          SELECT player_id AS "playerId", final_rank AS rank FROM scores
          WHERE event_id = ${row.id} AND run_number = ${run.runNumber} AND final_rank <= ${lastPrized}
          ORDER BY final_rank`);
        const winners = ranked.flatMap((entry) => {
          const rewards = rewardsOfRank(config, entry.rank);
          return rewards ? [{ ...entry, rewards }] : [];
        });
        for (const [i, winner] of winners.entries()) {
          await tx.run(sql`
            INSERT INTO reward_grants (id, event_id, run_number, player_id, rank, rewards, grant_time)
            VALUES (${randomUUID()}, ${row.id}, ${run.runNumber}, ${winner.playerId}, ${winner.rank},
              ${JSON.stringify(rewardsToStored(winner.rewards))}, ${now})
            ON CONFLICT (event_id, run_number, player_id) DO NOTHING`);
          hooks.grantWritten?.(i + 1, winners.length);
        }
      }
      await appendClusterChange(tx, "grant", row.id, { runNumber: run.runNumber, finalized: true }, now);
      boards.delete(key(row.id, run.runNumber));
    },

    /**
     * Adds a player to a run without a score, inside a write, unless the run has `maxParticipants` (0: no limit)
     * already (one conditional UPDATE of the run's count, which concurrent joins on PostgreSQL take in turn) or the
     * player has an entry already (`present`: added meanwhile by a concurrent write).
     */
    async addParticipant(
      tx: Transaction,
      entry: { eventId: string; runNumber: number; playerId: string; now: number },
      maxParticipants: number,
    ): Promise<ParticipantAdded> {
      // A concurrent first entry of the same player (PostgreSQL) makes this one wait, then find it there.
      const inserted = await tx.run(sql`
        INSERT INTO scores (event_id, run_number, player_id, join_time)
        VALUES (${entry.eventId}, ${entry.runNumber}, ${entry.playerId}, ${entry.now})
        ON CONFLICT (event_id, run_number, player_id) DO NOTHING`);
      if (inserted === 0) return { kind: "present" };
      const counted = await tx.get<{ participants: number }>(sql`
        UPDATE event_runs SET participants = participants + 1
        WHERE event_id = ${entry.eventId} AND run_number = ${entry.runNumber}
          AND (${maxParticipants} = 0 OR participants < ${maxParticipants})
        RETURNING participants`);
      // Full: the caller's error rolls the entry back.
      if (!counted) return { kind: "full" };
      const logged: LoggedScore = { runNumber: entry.runNumber, record: joinedEntry(entry.playerId) };
      await appendClusterChange(tx, "score", entry.eventId, logged, entry.now);
      return { kind: "added", participants: counted.participants };
    },

    /** The number of players with an entry in a run. */
    async participantCount(client: SqlClient, eventId: string, runNumber: number): Promise<number> {
      const row = await client.get<{ participants: number }>(
        sql`SELECT participants FROM event_runs WHERE event_id = ${eventId} AND run_number = ${runNumber}`,
      );
      return row?.participants ?? 0;
    },

    /** Stores a player's new score in a run (`record.seq` is the order in which its pair was reached), in a write. */
    async updateScore(tx: Transaction, eventId: string, runNumber: number, record: ScoreRecord) {
      await tx.run(sql`
        UPDATE scores SET score = ${record.score}, subscore = ${record.subscore}, reached_seq = ${record.seq},
          submissions = ${record.submissions}, metadata = ${record.metadata}, update_time = ${record.updateTime}
        WHERE event_id = ${eventId} AND run_number = ${runNumber} AND player_id = ${record.playerId}`);
      const logged: LoggedScore = { runNumber, record };
      await appendClusterChange(tx, "score", eventId, logged, record.updateTime ?? 0);
    },

    /** A player's entry in a run, read and locked inside a write (undefined: not a participant). */
    participantRow(tx: Transaction, eventId: string, runNumber: number, playerId: string) {
      return tx.get<ScoreRecord>(sql`
        SELECT ${RECORD_COLUMNS} FROM scores
        WHERE event_id = ${eventId} AND run_number = ${runNumber} AND player_id = ${playerId}${tx.forUpdate}`);
    },
  };
}

/** The score store the leaderboard service uses. */
export type ScoreStore = ReturnType<typeof createScoreStore>;
