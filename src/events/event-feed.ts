import { create, toBinary, type UnknownField } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Code } from "@connectrpc/connect";
import { type WatchEventsResponse, WatchEventsResponseSchema } from "../../gen/liveops/v1/event_service_pb.js";
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
  /**
   * Resolves when a change is queued, the clock reaches `until` (or earlier: a timer set by an earlier wait may
   * fire first — check the time), the feed pokes, or one of the subscription's signals aborts.
   */
  wait(until: number): Promise<Wake>;
  /** Leaves the feed; the queue is released at once. */
  close(): void;
}

/**
 * The top-level fields of an encoded message, as unknown fields. A message holding only these (no fields of its own)
 * encodes to exactly the same bytes — protobuf-es writes unknown fields back as they are — so that a message encoded
 * once can be handed to connect for many streams and each stream's "encoding" is a copy of bytes.
 */
export function encodedFields(bytes: Uint8Array): UnknownField[] {
  const reader = new BinaryReader(bytes);
  const fields: UnknownField[] = [];
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    fields.push({ no, wireType, data: reader.skip(wireType, no) });
  }
  return fields;
}

const encodings = new WeakMap<WatchEventsResponse, WatchEventsResponse>();

/**
 * A message whose binary encoding is exactly `change`'s, made once for every watcher of a binary protocol (see
 * {@link encodedFields}): encoding it for each stream costs a copy of bytes rather than a walk of the event (~30 µs,
 * which thousands of watchers would each pay). Not for JSON, which has no unknown fields: a JSON stream sends
 * `change` itself.
 */
export function sharedEncoding(change: WatchEventsResponse): WatchEventsResponse {
  let encoded = encodings.get(change);
  if (!encoded) {
    encoded = create(WatchEventsResponseSchema);
    encoded.$unknown = encodedFields(toBinary(WatchEventsResponseSchema, change));
    encodings.set(change, encoded);
  }
  return encoded;
}

/** Watchers woken per turn of the event loop after a publish (see `publish`). */
const WAKE_SLICE = 256;

interface Watcher {
  /** Whether it is in the list of watchers still to be woken after a publish. */
  toWake: boolean;
  push(changes: readonly WatchEventsResponse[]): void;
  overflow(): void;
  wake(why: Wake): void;
}

/**
 * Fans committed changes out to watchers. Each watcher has a bounded queue, so a consumer that cannot keep up
 * costs at most `queueLimit` changes before it is ended; at most `maxWatchers` watch at once. Queued changes are
 * the published objects themselves, shared by every watcher.
 */
export function createEventFeed(clock: Clock, options: { queueLimit: number; maxWatchers: number }) {
  const watchers = new Set<Watcher>();
  // Watchers that have changes and are still to be woken, a slice at a time (see publish); `woken` of them so far.
  let toWake: Watcher[] = [];
  let woken = 0;
  const wakeSlice = () => {
    const end = Math.min(toWake.length, woken + WAKE_SLICE);
    for (; woken < end; woken++) {
      const watcher = toWake[woken] as Watcher;
      watcher.toWake = false;
      watcher.wake("change");
    }
    if (woken < toWake.length) setImmediate(wakeSlice);
    else {
      toWake = [];
      woken = 0;
    }
  };
  return {
    /** The number of watchers now. */
    get size() {
      return watchers.size;
    },

    /**
     * Delivers committed changes, in order, to every watcher. Every queue gets them at once; the watchers are woken
     * a slice per turn of the event loop, so that with thousands of them the first slice's messages leave while the
     * rest are written, and the write that made the changes (and every other call) is answered in between rather
     * than after the whole fan-out.
     */
    publish(changes: readonly WatchEventsResponse[]) {
      const idle = toWake.length === 0;
      for (const watcher of watchers) {
        watcher.push(changes);
        if (!watcher.toWake) {
          watcher.toWake = true;
          toWake.push(watcher);
        }
      }
      if (idle && toWake.length > 0) setImmediate(wakeSlice);
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

    /**
     * A new watcher, woken as "aborted" once any of `signals` aborts; RESOURCE_EXHAUSTED when the server already has
     * its maximum.
     */
    subscribe(signals: readonly AbortSignal[]): Subscription {
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
      let aborted = signals.some((s) => s.aborted);
      let waiting: ((why: Wake) => void) | undefined;
      // One timer at a time, set again only when a wait needs an earlier one: a watcher that sends a message every
      // few ms would otherwise set and clear a timer per message.
      let timerAt = Number.POSITIVE_INFINITY;
      let cancelTimer: (() => void) | undefined;
      const onTimer = () => {
        timerAt = Number.POSITIVE_INFINITY;
        cancelTimer = undefined;
        watcher.wake("time");
      };
      const onAbort = () => {
        aborted = true;
        watcher.wake("aborted");
      };
      const watcher: Watcher = {
        toWake: false,
        push(changes) {
          if (overflowed) return;
          if (queue.length - head + changes.length > options.queueLimit) {
            overflowed = true;
            queue = [];
            head = 0;
          } else for (const change of changes) queue.push(change);
        },
        overflow() {
          overflowed = true;
          queue = [];
          head = 0;
          watcher.wake("change");
        },
        wake(why) {
          const resolve = waiting;
          waiting = undefined;
          resolve?.(why);
        },
      };
      for (const signal of signals) signal.addEventListener("abort", onAbort, { once: true });
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
        wait(until) {
          if (aborted) return Promise.resolve("aborted");
          if (overflowed || head < queue.length) return Promise.resolve("change");
          if (until < timerAt) {
            cancelTimer?.();
            timerAt = until;
            cancelTimer = clock.timer(until, onTimer);
          }
          return new Promise<Wake>((resolve) => {
            waiting = resolve;
          });
        },
        close() {
          watchers.delete(watcher);
          queue = [];
          cancelTimer?.();
          cancelTimer = undefined;
          for (const signal of signals) signal.removeEventListener("abort", onAbort);
          watcher.wake("aborted");
        },
      };
    },
  };
}

/** The feed the watch streams read. */
export type EventFeed = ReturnType<typeof createEventFeed>;
