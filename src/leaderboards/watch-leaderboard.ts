import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  LeaderboardService,
  type WatchLeaderboardRequest,
  type WatchLeaderboardResponse,
  WatchLeaderboardResponseSchema,
} from "../../gen/liveops/v1/leaderboard_service_pb.js";
import type { AccessControl } from "../auth/access-control.js";
import { methodPath } from "../auth/roles.js";
import type { Clock } from "../clock.js";
import { assertValid, type FieldViolation, notFound, serviceError } from "../errors.js";
import { leaderboardOf } from "../events/event-record.js";
import type { EventStore } from "../events/event-store.js";
import { checkEventId } from "../events/event-validation.js";
import { boardView, checkPlayerId, entryToMessage } from "./leaderboard-service.js";
import type { ScoreStore } from "./score-store.js";

const TOP_DEFAULT = 10;
const TOP_MAX = 100;
const watchPath = methodPath(LeaderboardService.method.watchLeaderboard);

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

/** Waits `ms` on `clock`, or until `signal` aborts. */
function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const cancel = clock.timer(clock.now() + ms, finish);
    signal.addEventListener("abort", finish, { once: true });
    function finish() {
      cancel();
      signal.removeEventListener("abort", finish);
      resolve();
    }
  });
}

/**
 * liveops.v1.LeaderboardService.WatchLeaderboard: sends the live board's top N (and one player's entry) at once,
 * then whenever it changes, at most once per interval — a burst of submissions coalesces into one message — and
 * follows the event from run to run. Sent again unchanged only as a heartbeat.
 */
export function createWatchLeaderboard(deps: WatchLeaderboardDeps) {
  const { store, scores, access, onKeyChange, clock, intervalMs, heartbeatMs, streamsShutdown } = deps;

  /** The board as it is now; the run and the time when it next changes by itself (a run starts or ends). */
  const snapshot = async (eventId: string, topN: number, playerId: string) => {
    const row = await store.findEventById(eventId);
    if (!row) throw notFound("event", eventId);
    const config = leaderboardOf(row);
    if (!config) throw serviceError(Code.FailedPrecondition, "NO_LEADERBOARD", `event ${eventId} has no leaderboard`);
    const now = clock.now();
    const state = await store.stateAt(row, now);
    const run = state.currentRun;
    const message = create(WatchLeaderboardResponseSchema, { time: timestampFromMs(now) });
    if (!run) return { message, board: undefined, until: state.validUntil };
    const board = await scores.boardOf(eventId, run.runNumber, config.order);
    const view = boardView(board, topN, playerId);
    message.runNumber = BigInt(run.runNumber);
    message.top = view.top.map(entryToMessage);
    message.player = view.player && entryToMessage(view.player);
    message.participants = BigInt(board.participants);
    return { message, board, until: state.validUntil };
  };

  /** The message without its time, to tell whether anything changed. */
  const contentOf = (message: WatchLeaderboardResponse) =>
    Buffer.from(toBinary(WatchLeaderboardResponseSchema, { ...message, time: undefined })).toString("base64");

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
    const signal = AbortSignal.any([ctx.signal, streamsShutdown]);
    let sentContent = "";
    let sentAt = Number.NEGATIVE_INFINITY;
    try {
      while (!signal.aborted) {
        await access.verify(authorization, watchPath);
        const { message, board, until } = await snapshot(eventId, topN, req.playerId);
        const content = contentOf(message);
        if (content !== sentContent || clock.now() - sentAt >= heartbeatMs) {
          sentContent = content;
          sentAt = clock.now();
          yield message;
        }
        // Sleep until the board changes, a run starts or ends, a key changes, a heartbeat is due, or the client goes
        // away.
        let keysChanged = false;
        await new Promise<void>((resolve) => {
          const stops = [
            board?.onChange(() => finish()),
            onKeyChange(() => {
              keysChanged = true;
              finish();
            }),
            clock.timer(Math.min(until, sentAt + heartbeatMs), () => finish()),
          ];
          const onAbort = () => finish();
          signal.addEventListener("abort", onAbort, { once: true });
          function finish() {
            for (const stop of stops) stop?.();
            signal.removeEventListener("abort", onAbort);
            resolve();
          }
        });
        // Coalesce: whatever else arrives meanwhile goes into the next message.
        if (!signal.aborted && !keysChanged) await pause(clock, intervalMs, signal);
      }
      if (streamsShutdown.aborted) throw new ConnectError("the server is shutting down", Code.Unavailable);
    } catch (err) {
      if (err instanceof ConnectError || !signal.aborted) throw err;
    }
  };
}
