import { Code } from "@connectrpc/connect";
import type { WatchEventsResponse } from "../../gen/liveops/v1/event_service_pb.js";
import type { Clock } from "../clock.js";
import { serviceError } from "../errors.js";

/** Why a watcher woke up. */
export type Wake = "change" | "time" | "poke" | "aborted";

/** One watcher's queue of changes not yet sent. */
export interface Subscription {
  /** The next queued change, if any. */
  take(): WatchEventsResponse | undefined;
  /** True once more changes arrived than the queue holds: the queue is dropped and the watcher must end. */
  readonly overflowed: boolean;
  /** Resolves when a change is queued, the clock reaches `until`, the feed pokes, or `signal` aborts. */
  wait(signal: AbortSignal, until: number): Promise<Wake>;
  /** Leaves the feed; the queue is released at once. */
  close(): void;
}

/**
 * Fans committed changes out to watchers. Each watcher has a bounded queue, so a consumer that cannot keep up
 * costs at most `queueLimit` changes before it is ended; at most `maxWatchers` watch at once.
 */
export function createEventFeed(clock: Clock, options: { queueLimit: number; maxWatchers: number }) {
  const watchers = new Set<{
    push(changes: readonly WatchEventsResponse[]): void;
    overflow(): void;
    wake(why: Wake): void;
  }>();
  return {
    /** The number of watchers now. */
    get size() {
      return watchers.size;
    },

    /** Delivers committed changes, in order, to every watcher. */
    publish(changes: readonly WatchEventsResponse[]) {
      for (const watcher of watchers) watcher.push(changes);
    },

    /**
     * Ends every watcher as one that fell behind (it resumes with after_sequence): for when changes cannot be
     * delivered because this server lost its place in the change log.
     */
    dropAll() {
      for (const watcher of watchers) watcher.overflow();
    },

    /** Wakes every watcher, e.g. to check its API key again after keys changed. */
    pokeAll() {
      for (const watcher of watchers) watcher.wake("poke");
    },

    /** A new watcher; RESOURCE_EXHAUSTED when the server already has its maximum. */
    subscribe(): Subscription {
      if (watchers.size >= options.maxWatchers) {
        throw serviceError(
          Code.ResourceExhausted,
          "TOO_MANY_WATCHERS",
          `the server has its maximum of ${options.maxWatchers} watchers; try again later`,
        );
      }
      let queue: WatchEventsResponse[] = [];
      let head = 0;
      let overflowed = false;
      let waiting: ((why: Wake) => void) | undefined;
      const watcher = {
        push(changes: readonly WatchEventsResponse[]) {
          if (overflowed) return;
          if (queue.length - head + changes.length > options.queueLimit) {
            overflowed = true;
            queue = [];
            head = 0;
          } else queue.push(...changes);
          watcher.wake("change");
        },
        overflow() {
          overflowed = true;
          queue = [];
          head = 0;
          watcher.wake("change");
        },
        wake(why: Wake) {
          const resolve = waiting;
          waiting = undefined;
          resolve?.(why);
        },
      };
      watchers.add(watcher);
      return {
        take() {
          if (head >= queue.length) return undefined;
          const change = queue[head++];
          if (head === queue.length) {
            queue = [];
            head = 0;
          }
          return change;
        },
        get overflowed() {
          return overflowed;
        },
        wait(signal, until) {
          if (signal.aborted) return Promise.resolve("aborted");
          if (overflowed || head < queue.length) return Promise.resolve("change");
          return new Promise<Wake>((resolve) => {
            const onAbort = () => watcher.wake("aborted");
            const cancelTimer = clock.timer(until, () => watcher.wake("time"));
            signal.addEventListener("abort", onAbort, { once: true });
            waiting = (why) => {
              cancelTimer();
              signal.removeEventListener("abort", onAbort);
              resolve(why);
            };
          });
        },
        close() {
          watchers.delete(watcher);
          queue = [];
          watcher.wake("aborted");
        },
      };
    },
  };
}

/** The feed the watch streams read. */
export type EventFeed = ReturnType<typeof createEventFeed>;
