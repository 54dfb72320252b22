import { OrderedSet } from "js-sdsl";
import { LeaderboardOrder } from "../../gen/liveops/v1/event_pb.js";

/** A player's entry on a board; `score` is null for a player who joined and has not scored yet. */
export interface ScoreRecord {
  playerId: string;
  score: number | null;
  subscore: number | null;
  /** Orders equal (score, subscore) pairs: who reached the pair first ranks first. */
  seq: number | null;
  submissions: number;
  metadata: string | null;
  updateTime: number | null;
}

/** The entry of a player who has joined a run and not scored yet. */
export function joinedEntry(playerId: string): ScoreRecord {
  return { playerId, score: null, subscore: null, seq: null, submissions: 0, metadata: null, updateTime: null };
}

/** A ranked entry: one with a score. */
export type RankedRecord = ScoreRecord & { score: number; subscore: number; seq: number };

function isRanked(record: ScoreRecord): record is RankedRecord {
  return record.score !== null && record.subscore !== null && record.seq !== null;
}

/**
 * The order of entries, best first: (score, subscore) in the board's direction, then who reached it first, then
 * the player id (so that the order is total). The same as finalization's ORDER BY.
 */
export function compareEntries(order: LeaderboardOrder) {
  const direction = order === LeaderboardOrder.LOWER_FIRST ? -1 : 1;
  return (a: RankedRecord, b: RankedRecord): number => {
    if (a.score !== b.score) return (a.score > b.score ? -1 : 1) * direction;
    if (a.subscore !== b.subscore) return (a.subscore > b.subscore ? -1 : 1) * direction;
    if (a.seq !== b.seq) return a.seq - b.seq;
    return a.playerId < b.playerId ? -1 : a.playerId > b.playerId ? 1 : 0;
  };
}

/**
 * One run's board in memory: every participant, and the ranked ones in an order-statistic tree (js-sdsl's red-black
 * tree with subtree sizes), so a rank, the top N or the entries around a player cost O(log n) however large the
 * board is.
 */
export function createBoard(order: LeaderboardOrder, records: Iterable<ScoreRecord> = []) {
  const participants = new Map<string, ScoreRecord>();
  const ranked = new OrderedSet<RankedRecord>([], compareEntries(order), true);
  const listeners = new Set<() => void>();
  const put = (record: ScoreRecord) => {
    const previous = participants.get(record.playerId);
    // Transactions may commit out of the order they were applied in: an entry never goes back to fewer submissions.
    if (previous && previous.submissions > record.submissions) return;
    if (previous && isRanked(previous)) ranked.eraseElementByKey(previous);
    participants.set(record.playerId, record);
    if (isRanked(record)) ranked.insert(record);
  };
  for (const record of records) put(record);
  const at = (position: number) => ranked.getElementByPos(position);

  return {
    /** The order the board ranks in. */
    order,
    /** Participants, scored or not. */
    get participants() {
      return participants.size;
    },
    /** Entries with a score. */
    get rankedCount() {
      return ranked.size();
    },
    has(playerId: string) {
      return participants.has(playerId);
    },
    /** Records committed entries, in commit order, and tells the watchers once. */
    apply(records: readonly ScoreRecord[]) {
      for (const record of records) put(record);
      if (records.length > 0) for (const listener of listeners) listener();
    },
    /** The player's entry with its rank (1 = best), if the player has a score. */
    entryOf(playerId: string): { record: RankedRecord; rank: number } | undefined {
      const record = participants.get(playerId);
      if (!record || !isRanked(record)) return undefined;
      return { record, rank: ranked.find(record).index + 1 };
    },
    /** Up to `limit` entries from rank `offset + 1` on. */
    page(offset: number, limit: number): { record: RankedRecord; rank: number }[] {
      const end = Math.min(ranked.size(), offset + limit);
      const page = [];
      for (let i = Math.max(0, offset); i < end; i++) page.push({ record: at(i), rank: i + 1 });
      return page;
    },
    /** Says that this board is no longer kept (its run ended, or it is read afresh): wakes its watchers. */
    retire() {
      for (const listener of listeners) listener();
    },
    /** Calls `listener` after each applied change; returns the function that stops it. */
    onChange(listener: () => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** One run's board. */
export type Board = ReturnType<typeof createBoard>;
