import type { Tx } from "../audit/audit-log.js";
import type { Db } from "../db/database.js";

/** Scratch space shared by the operations of one batch (e.g. participants added so far). */
export type BatchScratch = Map<string, number>;

interface Operation {
  run(tx: Tx, scratch: BatchScratch): unknown;
  committed?: (value: unknown) => void;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * Group commit: operations queued in the same turn of the event loop run in one IMMEDIATE transaction, each in a
 * savepoint of its own (one that throws is rolled back alone and rejects alone), so that many concurrent writes
 * cost one fsync with `synchronous=FULL`. An operation's promise settles only after its batch has committed; its
 * `committed` callback runs first, in queue order (to update memory only with what is durable).
 */
export function createWriteBatcher(db: Db, onBatch?: (size: number) => void) {
  let queue: Operation[] = [];

  const flush = () => {
    const operations = queue;
    queue = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    const scratch: BatchScratch = new Map();
    try {
      db.transaction(
        (tx) => {
          for (const operation of operations) {
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
      for (const operation of operations) operation.reject(error);
      return;
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
    /** Runs `body` in the next batch; resolves with its value once the batch has committed. */
    run<T>(body: (tx: Tx, scratch: BatchScratch) => T, committed?: (value: T) => void): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (queue.length === 0) setImmediate(flush);
        queue.push({
          run: body,
          committed: committed as ((value: unknown) => void) | undefined,
          resolve: resolve as (value: unknown) => void,
          reject,
        });
      });
    },
  };
}

/** The group-commit queue of score, join and counter writes. */
export type WriteBatcher = ReturnType<typeof createWriteBatcher>;
