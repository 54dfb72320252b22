/**
 * A sorted list of numbers (a board's slots) ordered by `compare`, with positions: insert, remove, the position of an
 * item, the item at a position and a run of items from a position, each in O(log n) (plus the run's length).
 *
 * It is a list of sorted chunks of at most `2 × chunkSize` items (the layout of Python's sortedcontainers), with a
 * Fenwick tree over the chunks' lengths for positions: with ~1,000 chunks of ~500 a million items cost one small
 * array slot each, an insert or remove is two binary searches and a short `splice`, and a list built from items
 * already in order (a board read from the database in rank order) costs O(n) and no comparison at all.
 */
export function createRankedList(compare: (a: number, b: number) => number, chunkSize = 512) {
  let chunks: number[][] = [];
  /** Fenwick tree (1-based) over the chunks' lengths. */
  let tree: number[] = [0];
  let size = 0;

  const rebuildTree = () => {
    tree = new Array<number>(chunks.length + 1).fill(0);
    for (let i = 1; i <= chunks.length; i++) {
      tree[i] = (tree[i] ?? 0) + (chunks[i - 1]?.length ?? 0);
      const parent = i + (i & -i);
      if (parent <= chunks.length) tree[parent] = (tree[parent] ?? 0) + (tree[i] ?? 0);
    }
  };
  const addToChunk = (chunk: number, delta: number) => {
    for (let i = chunk + 1; i < tree.length; i += i & -i) tree[i] = (tree[i] ?? 0) + delta;
  };
  /** Items in the chunks before `chunk`. */
  const before = (chunk: number) => {
    let sum = 0;
    for (let i = chunk; i > 0; i -= i & -i) sum += tree[i] ?? 0;
    return sum;
  };
  /** The chunk holding position `position` (< size), and the position within it. */
  const chunkAt = (position: number): [number, number] => {
    let chunk = 0;
    let rest = position;
    for (let step = 1 << Math.floor(Math.log2(tree.length)); step > 0; step >>= 1) {
      const next = chunk + step;
      if (next < tree.length && (tree[next] ?? 0) <= rest) {
        chunk = next;
        rest -= tree[next] ?? 0;
      }
    }
    return [chunk, rest];
  };
  /** The first chunk whose last item is not before `item` (the last chunk when every item is before it). */
  const chunkFor = (item: number) => {
    let low = 0;
    let high = chunks.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      const chunk = chunks[middle] as number[];
      if (compare(chunk[chunk.length - 1] as number, item) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  /** The first index in `chunk` whose item is not before `item`. */
  const indexIn = (chunk: number[], item: number) => {
    let low = 0;
    let high = chunk.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (compare(chunk[middle] as number, item) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  /** Where `item` is, if it is in the list (an item equal to it under `compare` counts as it). */
  const locate = (item: number): [number, number] | undefined => {
    if (size === 0) return undefined;
    const c = chunkFor(item);
    const chunk = chunks[c] as number[];
    const i = indexIn(chunk, item);
    return i < chunk.length && compare(chunk[i] as number, item) === 0 ? [c, i] : undefined;
  };

  return {
    get size() {
      return size;
    },
    /** Replaces the contents with `items`, which must be in order and distinct under `compare`. */
    fill(items: ArrayLike<number>) {
      chunks = [];
      for (let i = 0; i < items.length; i += chunkSize) {
        const chunk: number[] = [];
        for (let j = i; j < Math.min(items.length, i + chunkSize); j++) chunk.push(items[j] as number);
        chunks.push(chunk);
      }
      size = items.length;
      rebuildTree();
    },
    /** Adds `item`, which must not be in the list yet. */
    insert(item: number) {
      if (size === 0) {
        chunks = [[item]];
        size = 1;
        rebuildTree();
        return;
      }
      const c = chunkFor(item);
      const chunk = chunks[c] as number[];
      chunk.splice(indexIn(chunk, item), 0, item);
      size++;
      if (chunk.length > 2 * chunkSize) {
        chunks.splice(c + 1, 0, chunk.splice(chunkSize));
        rebuildTree();
      } else {
        addToChunk(c, 1);
      }
    },
    /** Removes `item` (found by `compare`, so it must still compare as when inserted); false when absent. */
    remove(item: number): boolean {
      const at = locate(item);
      if (!at) return false;
      const [c, i] = at;
      const chunk = chunks[c] as number[];
      chunk.splice(i, 1);
      size--;
      if (chunk.length === 0) {
        chunks.splice(c, 1);
        rebuildTree();
      } else if (chunk.length < chunkSize / 4 && chunks.length > 1) {
        // A small chunk joins a neighbour, so that the chunks stay few and positions cheap.
        const into = c > 0 ? c - 1 : c + 1;
        const [first, second] = into < c ? [into, c] : [c, into];
        chunks.splice(first, 2, [...(chunks[first] as number[]), ...(chunks[second] as number[])]);
        const joined = chunks[first] as number[];
        if (joined.length > 2 * chunkSize) chunks.splice(first + 1, 0, joined.splice(chunkSize));
        rebuildTree();
      } else {
        addToChunk(c, -1);
      }
      return true;
    },
    /** The position (0 = first) of `item`, if it is in the list. */
    positionOf(item: number): number | undefined {
      const at = locate(item);
      return at && before(at[0]) + at[1];
    },
    /** Up to `count` items from position `from` on. */
    slice(from: number, count: number): number[] {
      const items: number[] = [];
      if (from < 0 || from >= size || count <= 0) return items;
      let [c, i] = chunkAt(from);
      while (items.length < count && c < chunks.length) {
        const chunk = chunks[c] as number[];
        for (; i < chunk.length && items.length < count; i++) items.push(chunk[i] as number);
        c++;
        i = 0;
      }
      return items;
    },
  };
}

/** A {@link createRankedList}. */
export type RankedList = ReturnType<typeof createRankedList>;
