import { create, toBinary, type UnknownField } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  LeaderboardService,
  type ScoreEntry,
  ScoreEntrySchema,
  type WatchLeaderboardRequest,
  type WatchLeaderboardResponse,
  WatchLeaderboardResponseSchema,
} from "../../gen/liveops/v1/leaderboard_service_pb.js";
import type { AccessControl } from "../auth/access-control.js";
import { methodPath } from "../auth/roles.js";
import type { Clock } from "../clock.js";
import { assertValid, type FieldViolation, notFound, serviceError } from "../errors.js";
import { encodedFields } from "../events/event-feed.js";
import { leaderboardOf } from "../events/event-record.js";
import type { EventStore } from "../events/event-store.js";
import { checkEventId } from "../events/event-validation.js";
import { databaseAway, isJson, recheckKey } from "../events/watch-events.js";
import type { Board } from "./board.js";
import { boardView, checkPlayerId, entryToMessage } from "./leaderboard-service.js";
import type { ScoreStore } from "./score-store.js";

const TOP_DEFAULT = 10;
const TOP_MAX = 100;
const watchPath = methodPath(LeaderboardService.method.watchLeaderboard);
/** WatchLeaderboardResponse.player's field number: the one field that differs between watchers of one read. */
const PLAYER_FIELD = 3;

/** What WatchLeaderboard needs. */
export interface WatchLeaderboardDeps {
  store: EventStore;
  scores: ScoreStore;
  access: AccessControl;
  /** Subscribes to changes of stored keys (returns the unsubscribe function): a revoked key's stream ends at once. */
  onKeyChange: (listener: () => void) => () => void;
  clock: Clock;
  /** Messages of one stream are at least this far apart: a burst of scores gives one message per interval. */
  intervalMs: number;
  heartbeatMs: number;
  streamsShutdown: AbortSignal;
}

/** The top N of one read, made once for every watcher that asks for that N. */
interface SharedTop {
  /** The message without a player. */
  message: WatchLeaderboardResponse;
  /** What tells whether the board changed: the encoding without the time. */
  content: string;
  /** The encoded fields before and after the player's (see encodedFields). */
  before: UnknownField[];
  after: UnknownField[];
}

/** One read of an event's live board, shared by every watcher of the event. */
interface BoardRead {
  at: number;
  runNumber: number;
  board: Board | undefined;
  participants: number;
  /** When the board next changes by itself: a run starts or ends. */
  until: number;
  topOf(topN: number): SharedTop;
}

/**
 * The reads of one event's board for all its watchers: one read when they start, then one an interval after the
 * board changes (a burst of scores is one read), one when a run starts or ends, and one every heartbeat (the event
 * may have changed or gone) — each handed to every watcher. A read the database cannot answer now is made again a
 * heartbeat later; its watchers keep what they have meanwhile.
 */
function createBoardReads(read: () => Promise<BoardRead>, clock: Clock, intervalMs: number, heartbeatMs: number) {
  const listeners = new Set<(result: BoardRead | Error) => void>();
  let latest: BoardRead | undefined;
  let reading: Promise<BoardRead> | undefined;
  let changed = false;
  let watchedBoard: Board | undefined;
  let stopBoard: (() => void) | undefined;
  const timers = { change: undefined as (() => void) | undefined, next: undefined as (() => void) | undefined };

  const refresh = (): Promise<BoardRead> => {
    reading ??= read()
      .then(
        (result) => {
          latest = result;
          follow(result);
          for (const listener of listeners) listener(result);
          return result;
        },
        (err: unknown) => {
          latest = undefined;
          const error = err instanceof Error ? err : new Error(String(err));
          if (databaseAway(error)) readAgainAt(clock.now() + heartbeatMs);
          else for (const listener of listeners) listener(error);
          throw error;
        },
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };
  const fire = () => {
    timers.change = undefined;
    changed = false;
    refresh().catch(() => {});
  };
  /** Listens to the read's board, and reads again when its run starts or ends, or a heartbeat after. */
  const follow = (result: BoardRead) => {
    if (result.board !== watchedBoard) {
      stopBoard?.();
      watchedBoard = result.board;
      stopBoard = result.board?.onChange(() => {
        changed = true;
        timers.change ??= clock.timer(clock.now() + intervalMs, fire);
      });
    }
    readAgainAt(Math.min(result.until, result.at + heartbeatMs));
  };
  const readAgainAt = (at: number) => {
    timers.next?.();
    timers.next = clock.timer(at, () => {
      timers.next = undefined;
      refresh().catch(() => {});
    });
  };
  return {
    /**
     * The board as it is now: the last read if the board has not changed since and it is less than an interval old
     * (the event itself may have changed), else a new one.
     */
    current(): Promise<BoardRead> {
      const now = clock.now();
      if (latest && !changed && !reading && now < latest.until && now - latest.at < intervalMs) {
        return Promise.resolve(latest);
      }
      return refresh();
    },
    /** Calls `listener` with every read after this (or its failure); returns the function that stops it. */
    listen(listener: (result: BoardRead | Error) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get listeners() {
      return listeners.size;
    },
    stop() {
      stopBoard?.();
      timers.change?.();
      timers.next?.();
    },
  };
}

/** The encoding of a player's entry as WatchLeaderboardResponse.player. */
function playerField(entry: ScoreEntry): UnknownField {
  return {
    no: PLAYER_FIELD,
    wireType: WireType.LengthDelimited,
    data: new BinaryWriter().bytes(toBinary(ScoreEntrySchema, entry)).finish(),
  };
}

/**
 * liveops.v1.LeaderboardService.WatchLeaderboard: sends the live board's top N (and one player's entry) at once,
 * then whenever it changes, at most once per interval — a burst of submissions coalesces into one message — and
 * follows the event from run to run. Sent again unchanged only as a heartbeat. The watchers of one event share its
 * reads (one per interval, however many watch) and, on binary protocols, the encoding of each top N.
 */
export function createWatchLeaderboard(deps: WatchLeaderboardDeps) {
  const { store, scores, access, onKeyChange, clock, intervalMs, heartbeatMs, streamsShutdown } = deps;

  /** The board as it is now; the run and the time when it next changes by itself (a run starts or ends). */
  const readBoard = async (eventId: string): Promise<BoardRead> => {
    const row = await store.findEventById(eventId);
    if (!row) throw notFound("event", eventId);
    const config = leaderboardOf(row);
    if (!config) throw serviceError(Code.FailedPrecondition, "NO_LEADERBOARD", `event ${eventId} has no leaderboard`);
    const at = clock.now();
    const state = await store.stateAt(row, at);
    const run = state.currentRun;
    const board = run ? await scores.boardOf(eventId, run.runNumber, config.order) : undefined;
    const participants = board?.participants ?? 0;
    const tops = new Map<number, SharedTop>();
    const runNumber = run?.runNumber ?? 0;
    // The top entries are read when first asked for, in the same turn as the read for every watcher woken by it.
    const topOf = (topN: number): SharedTop => {
      let top = tops.get(topN);
      if (!top) {
        const message = create(WatchLeaderboardResponseSchema, { time: timestampFromMs(at) });
        if (board) {
          message.runNumber = BigInt(runNumber);
          message.top = boardView(board, topN, "").top.map(entryToMessage);
          message.participants = BigInt(participants);
        }
        const fields = encodedFields(toBinary(WatchLeaderboardResponseSchema, message));
        const content = Buffer.from(toBinary(WatchLeaderboardResponseSchema, { ...message, time: undefined })).toString(
          "base64",
        );
        top = {
          message,
          content,
          before: fields.filter((f) => f.no < PLAYER_FIELD),
          after: fields.filter((f) => f.no > PLAYER_FIELD),
        };
        tops.set(topN, top);
      }
      return top;
    };
    return { at, runNumber, board, participants, until: state.validUntil, topOf };
  };

  const boards = new Map<string, ReturnType<typeof createBoardReads>>();
  const readsOf = (eventId: string) => {
    let reads = boards.get(eventId);
    if (!reads) {
      reads = createBoardReads(() => readBoard(eventId), clock, intervalMs, heartbeatMs);
      boards.set(eventId, reads);
    }
    return reads;
  };

  return async function* watchLeaderboard(
    req: WatchLeaderboardRequest,
    ctx: HandlerContext,
  ): AsyncGenerator<WatchLeaderboardResponse> {
    const violations: FieldViolation[] = checkEventId(req.eventId, "event_id");
    if (req.playerId !== "") violations.push(...checkPlayerId(req.playerId));
    if (req.topN < 0 || req.topN > TOP_MAX) {
      violations.push({
        field: "top_n",
        description: `must be 0 (default ${TOP_DEFAULT}) to ${TOP_MAX}`,
        reason: "OUT_OF_RANGE",
      });
    }
    assertValid(violations);
    const eventId = req.eventId.toLowerCase();
    const topN = req.topN === 0 ? TOP_DEFAULT : req.topN;
    const authorization = ctx.requestHeader.get("authorization");
    const json = isJson(ctx.requestHeader.get("content-type"));
    const signals = [ctx.signal, streamsShutdown];
    const reads = readsOf(eventId);
    // What wakes the stream: a new read (or its failure), a key change, a heartbeat, the client or the server.
    let next: BoardRead | Error | undefined;
    let keysChanged = false;
    let wake: (() => void) | undefined;
    const woken = () => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    const stops = [
      reads.listen((result) => {
        next = result;
        woken();
      }),
      onKeyChange(() => {
        keysChanged = true;
        woken();
      }),
    ];
    for (const signal of signals) signal.addEventListener("abort", woken);
    const aborted = () => signals.some((s) => s.aborted);
    let sentContent = "";
    let sentAt = Number.NEGATIVE_INFINITY;
    try {
      await access.verify(authorization, watchPath);
      let board: BoardRead | Error = await reads.current();
      for (;;) {
        if (board instanceof Error) throw board;
        const top = board.topOf(topN);
        const view = req.playerId === "" || !board.board ? undefined : boardView(board.board, 0, req.playerId).player;
        const player = view && entryToMessage(view);
        const encodedPlayer = player && playerField(player);
        const content = encodedPlayer
          ? `${top.content}:${Buffer.from(encodedPlayer.data).toString("base64")}`
          : top.content;
        const changed = content !== sentContent;
        if (changed || clock.now() - sentAt >= heartbeatMs) {
          sentContent = content;
          sentAt = clock.now();
          if (changed && !json) {
            // Every watcher of this read and N sends the same top: its encoding is copied, not made again.
            const shared = create(WatchLeaderboardResponseSchema);
            shared.$unknown = encodedPlayer
              ? [...top.before, encodedPlayer, ...top.after]
              : [...top.before, ...top.after];
            yield shared;
          } else {
            // JSON has no shared encoding; a heartbeat says when it was sent.
            yield create(WatchLeaderboardResponseSchema, {
              ...top.message,
              player,
              time: timestampFromMs(changed ? board.at : sentAt),
            });
          }
        }
        // Sleep until a new read, a key change, a heartbeat is due, or the client goes away.
        if (next === undefined && !keysChanged && !aborted()) {
          const cancelTimer = clock.timer(sentAt + heartbeatMs, woken);
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          cancelTimer();
        }
        if (aborted()) break;
        // The key may have been revoked, or have expired, since the last check.
        keysChanged = false;
        await recheckKey(access, authorization, watchPath);
        if (next !== undefined) {
          board = next;
          next = undefined;
        }
      }
      if (streamsShutdown.aborted) throw new ConnectError("the server is shutting down", Code.Unavailable);
    } catch (err) {
      if (err instanceof ConnectError || !aborted()) throw err;
    } finally {
      for (const stop of stops) stop();
      for (const signal of signals) signal.removeEventListener("abort", woken);
      if (reads.listeners === 0) {
        reads.stop();
        boards.delete(eventId);
      }
    }
  };
}
