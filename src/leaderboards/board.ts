import { LeaderboardOrder } from "../../gen/liveops/v1/event_pb.js";
import { createRankedList } from "./ranked-list.js";

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

/** Options of {@link createBoard}, for tests. */
export interface BoardOptions {
  /** Slots per chunk of the ranked list (small in tests, so that chunks split and join). */
  chunkSize?: number;
}

/**
 * The entries of a board in columns, one slot per participant (a board only grows): typed arrays for the numbers,
 * so that a million entries are a few arrays rather than a million objects for the garbage collector to copy and
 * mark. Records are made when asked for.
 */
function createColumns(capacity: number) {
  let size = 0;
  const ids: string[] = [];
  const metadata: (string | null)[] = [];
  let numbers = new Float64Array(Math.max(16, capacity) * 5);
  let scored = new Uint8Array(Math.max(16, capacity));
  const grow = () => {
    const bigger = new Float64Array(numbers.length * 2);
    bigger.set(numbers);
    numbers = bigger;
    const flags = new Uint8Array(scored.length * 2);
    flags.set(scored);
    scored = flags;
  };
  // Slot s's numbers: score, subscore, seq, submissions, update time (NaN: none), side by side for locality.
  return {
    get size() {
      return size;
    },
    add(playerId: string): number {
      if (size === scored.length) grow();
      ids.push(playerId);
      metadata.push(null);
      return size++;
    },
    write(slot: number, record: ScoreRecord) {
      const at = slot * 5;
      scored[slot] = isRanked(record) ? 1 : 0;
      numbers[at] = record.score ?? 0;
      numbers[at + 1] = record.subscore ?? 0;
      numbers[at + 2] = record.seq ?? 0;
      numbers[at + 3] = record.submissions;
      numbers[at + 4] = record.updateTime ?? Number.NaN;
      metadata[slot] = record.metadata;
    },
    /** Whether the slot holds exactly `record` (as the slot's own update comes back from the change log). */
    holds(slot: number, record: ScoreRecord): boolean {
      const at = slot * 5;
      return (
        scored[slot] === (isRanked(record) ? 1 : 0) &&
        numbers[at] === (record.score ?? 0) &&
        numbers[at + 1] === (record.subscore ?? 0) &&
        numbers[at + 2] === (record.seq ?? 0) &&
        numbers[at + 3] === record.submissions &&
        Object.is(numbers[at + 4], record.updateTime ?? Number.NaN) &&
        metadata[slot] === record.metadata
      );
    },
    ranked: (slot: number) => scored[slot] === 1,
    submissions: (slot: number) => numbers[slot * 5 + 3] as number,
    record(slot: number): ScoreRecord {
      const at = slot * 5;
      const ranked = scored[slot] === 1;
      const updateTime = numbers[at + 4] as number;
      return {
        playerId: ids[slot] as string,
        score: ranked ? (numbers[at] as number) : null,
        subscore: ranked ? (numbers[at + 1] as number) : null,
        seq: ranked ? (numbers[at + 2] as number) : null,
        submissions: numbers[at + 3] as number,
        metadata: metadata[slot] ?? null,
        updateTime: Number.isNaN(updateTime) ? null : updateTime,
      };
    },
    /** The order of ranked slots: {@link compareEntries} on the columns. */
    compare(order: LeaderboardOrder) {
      const direction = order === LeaderboardOrder.LOWER_FIRST ? -1 : 1;
      return (a: number, b: number): number => {
        const x = a * 5;
        const y = b * 5;
        const scoreA = numbers[x] as number;
        const scoreB = numbers[y] as number;
        if (scoreA !== scoreB) return (scoreA > scoreB ? -1 : 1) * direction;
        const subA = numbers[x + 1] as number;
        const subB = numbers[y + 1] as number;
        if (subA !== subB) return (subA > subB ? -1 : 1) * direction;
        const seqA = numbers[x + 2] as number;
        const seqB = numbers[y + 2] as number;
        if (seqA !== seqB) return seqA - seqB;
        const idA = ids[a] as string;
        const idB = ids[b] as string;
        return idA < idB ? -1 : idA > idB ? 1 : 0;
      };
    },
  };
}

/**
 * Builds a board from many records at once (a board read from the database, page by page): their columns first,
 * then the ranked ones sorted once — O(n log n) comparisons of numbers in typed arrays, instead of a million inserts.
 */
export function createBoardBuilder(order: LeaderboardOrder, options: BoardOptions & { capacity?: number } = {}) {
  const columns = createColumns(options.capacity ?? 0);
  const slotOf = new Map<string, number>();
  const compare = columns.compare(order);
  /** The slot of a record's player, unless the record is older than the entry it has (see `put` in boardOver). */
  const slotFor = (record: ScoreRecord): number | undefined => {
    const slot = slotOf.get(record.playerId);
    if (slot === undefined) {
      const added = columns.add(record.playerId);
      slotOf.set(record.playerId, added);
      return added;
    }
    return columns.submissions(slot) > record.submissions ? undefined : slot;
  };
  let built = false;
  return {
    /** Adds records (a player's later record replaces its earlier one, unless it has fewer submissions). */
    add(records: readonly ScoreRecord[]) {
      if (built) throw new Error("the board is built already");
      for (const record of records) {
        const slot = slotFor(record);
        if (slot !== undefined) columns.write(slot, record);
      }
    },
    /** The board of every record added. */
    build() {
      built = true;
      let count = 0;
      for (let slot = 0; slot < columns.size; slot++) if (columns.ranked(slot)) count++;
      const first = new Int32Array(count);
      let at = 0;
      for (let slot = 0; slot < columns.size; slot++) if (columns.ranked(slot)) first[at++] = slot;
      let sorted = true;
      for (let i = 1; i < count && sorted; i++) sorted = compare(first[i - 1] as number, first[i] as number) < 0;
      if (!sorted) first.sort(compare);
      const ranked = createRankedList(compare, options.chunkSize);
      ranked.fill(first);
      return boardOver(order, { columns, slotOf, slotFor, ranked });
    },
  };
}

/**
 * One run's board in memory: every participant (in columns, see createColumns), and the ranked ones in a ranked
 * list (ranked-list.ts), so that a rank, the top N or the entries around a player cost O(log n) however large the
 * board is. `records` may come in any order (see {@link createBoardBuilder}).
 */
export function createBoard(order: LeaderboardOrder, records: Iterable<ScoreRecord> = [], options: BoardOptions = {}) {
  const initial = Array.isArray(records) ? (records as ScoreRecord[]) : [...records];
  const builder = createBoardBuilder(order, { ...options, capacity: initial.length });
  builder.add(initial);
  return builder.build();
}

function boardOver(
  order: LeaderboardOrder,
  state: {
    columns: ReturnType<typeof createColumns>;
    slotOf: Map<string, number>;
    slotFor: (record: ScoreRecord) => number | undefined;
    ranked: ReturnType<typeof createRankedList>;
  },
) {
  const { columns, slotOf, slotFor, ranked } = state;
  const listeners = new Set<() => void>();
  /** Records one entry; false when it changes nothing. */
  const put = (record: ScoreRecord): boolean => {
    const known = slotOf.has(record.playerId);
    // Transactions may commit out of the order they were applied in: an entry never goes back to fewer submissions.
    const slot = slotFor(record);
    if (slot === undefined) return false;
    // An entry applied at its commit comes back from the change log: the same entry again is nothing to do.
    if (known && columns.holds(slot, record)) return false;
    if (known && columns.ranked(slot)) ranked.remove(slot);
    columns.write(slot, record);
    if (columns.ranked(slot)) ranked.insert(slot);
    return true;
  };
  const entryAt = (slot: number, rank: number) => ({ record: columns.record(slot) as RankedRecord, rank });

  return {
    /** The order the board ranks in. */
    order,
    /** Participants, scored or not. */
    get participants() {
      return columns.size;
    },
    /** Entries with a score. */
    get rankedCount() {
      return ranked.size;
    },
    has(playerId: string) {
      return slotOf.has(playerId);
    },
    /** Records committed entries, in commit order, and tells the watchers once if any changed the board. */
    apply(records: readonly ScoreRecord[]) {
      let changed = false;
      for (const record of records) changed = put(record) || changed;
      if (changed) for (const listener of listeners) listener();
    },
    /** The player's entry with its rank (1 = best), if the player has a score. */
    entryOf(playerId: string): { record: RankedRecord; rank: number } | undefined {
      const slot = slotOf.get(playerId);
      if (slot === undefined || !columns.ranked(slot)) return undefined;
      const position = ranked.positionOf(slot);
      return position === undefined ? undefined : entryAt(slot, position + 1);
    },
    /** Up to `limit` entries from rank `offset + 1` on. */
    page(offset: number, limit: number): { record: RankedRecord; rank: number }[] {
      const from = Math.max(0, offset);
      return ranked.slice(from, limit - (from - offset)).map((slot, i) => entryAt(slot, from + i + 1));
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
export type Board = ReturnType<typeof boardOver>;
