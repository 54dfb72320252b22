import type { Db, Tx } from "./database.js";

/** Scratch space shared by the operations of one batch (e.g. participants added so far). */
export type BatchScratch = Map<string, number>;

interface Operation {
  run(tx: Tx, scratch: BatchScratch): unknown;
  /** The caller's signal: an operation whose caller has gone (deadline, cancel) before its batch is not run. */
  signal: AbortSignal | undefined;
  committed?: (value: unknown) => void;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * A batch takes no more operations once it has run this long: a longer queue is committed in several transactions,
 * with reads and other I/O served between them.
 */
const BATCH_BUDGET_MS = 10;

/**
 * Group commit: operations queued in the same turn of the event loop run in one IMMEDIATE transaction, each in a
 * savepoint of its own (one that throws is rolled back alone and rejects alone), so that many concurrent writes
 * cost one fsync with `synchronous=FULL`. A batch takes operations for at most {@link BATCH_BUDGET_MS} and the next
 * batch waits for the event loop's next turn, so that reads never wait behind a long queue of writes. An
 * operation's promise settles only after its batch has committed; its `committed` callback runs first, in queue
 * order (to update memory only with what is durable).
 */
export function createWriteBatcher(db: Db, onBatch?: (size: number) => void) {
  let queue: Operation[] = [];

  const flush = () => {
    const pending = queue;
    queue = [];
    const operations: Operation[] = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const scratch: BatchScratch = new Map();
    const deadline = performance.now() + BATCH_BUDGET_MS;
    try {
      db.transaction(
        (tx) => {
          for (const operation of pending) {
            if (operations.length > 0 && performance.now() > deadline) break;
            operations.push(operation);
            if (operation.signal?.aborted) {
              outcomes.push({ ok: false, error: operation.signal.reason });
              continue;
            }
            try {
              outcomes.push({ ok: true, value: tx.transaction((savepoint) => operation.run(savepoint, scratch)) });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
        },
        { behavior: "immediate" },
      );
    } catch (error) {
      // The transaction itself failed (its savepoints' failures are the operations' own): nothing was stored.
      for (const operation of pending) operation.reject(error);
      return;
    }
    // What this batch did not take goes first in the next one, on the event loop's next turn.
    const left = pending.slice(operations.length);
    if (left.length > 0) {
      if (queue.length === 0) setImmediate(flush);
      queue = [...left, ...queue];
    }
    onBatch?.(operations.length);
    operations.forEach((operation, i) => {
      const outcome = outcomes[i];
      if (!outcome?.ok) {
        operation.reject(outcome?.error);
        return;
      }
      try {
        operation.committed?.(outcome.value);
        operation.resolve(outcome.value);
      } catch (error) {
        // Committed, but memory could not follow: the caller learns it rather than the process crashing.
        operation.reject(error);
      }
    });
  };

  return {
    /**
     * Runs `body` in the next batch; resolves with its value once the batch has committed. Rejects with the
     * signal's reason, without running `body`, when `signal` aborts before the batch takes it: a caller that has
     * been told its deadline passed must not find its write stored.
     */
    run<T>(
      body: (tx: Tx, scratch: BatchScratch) => T,
      committed?: (value: T) => void,
      signal?: AbortSignal,
    ): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (queue.length === 0) setImmediate(flush);
        queue.push({
          run: body,
          signal,
          committed: committed as ((value: unknown) => void) | undefined,
          resolve: resolve as (value: unknown) => void,
          reject,
        });
      });
    },
  };
}

/** The group-commit queue of writes of events, runs, scores, joins, counters and reward claims. */
export type WriteBatcher = ReturnType<typeof createWriteBatcher>;
