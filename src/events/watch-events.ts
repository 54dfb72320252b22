import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  EventChangeType,
  EventService,
  type WatchEventsRequest,
  type WatchEventsResponse,
  WatchEventsResponseSchema,
} from "../../gen/liveops/v1/event_service_pb.js";
import type { EventTargeting } from "../audiences/audience-catalog.js";
import { type AccessControl, principalKey } from "../auth/access-control.js";
import { methodPath } from "../auth/roles.js";
import type { Clock } from "../clock.js";
import { StorageTimeoutError, StorageUnavailableError } from "../db/storage-errors.js";
import { invalidArgument, serviceError } from "../errors.js";
import { type PlayerTargeting, playerVisible } from "../players/player-view.js";
import type { ChangeLog } from "./event-changes.js";
import { type EventFeed, sharedEncoding } from "./event-feed.js";
import { rowToEvent } from "./event-record.js";
import type { EventStore } from "./event-store.js";

/** What WatchEvents needs. */
export interface WatchDeps {
  store: EventStore;
  changeLog: ChangeLog;
  feed: EventFeed;
  access: AccessControl;
  clock: Clock;
  heartbeatMs: number;
  /** Aborts when the server shuts down: open watches end with UNAVAILABLE. */
  streamsShutdown: AbortSignal;
  /** Which events target a player: a player's stream shows only those. */
  targeting: PlayerTargeting;
}

/** A player's stream reads the player's properties (and the compiled audiences) again at most this often. */
const PLAYER_REFRESH_MS = 5000;

/**
 * What one player's stream shows: changes of events that target the player, without their audiences, and UNTARGETED
 * when an event it showed stops targeting the player. Targeting is judged as each change is sent, from the player's
 * properties read at most every PLAYER_REFRESH_MS.
 */
function createPlayerFilter(targeting: PlayerTargeting, playerId: string, clock: Clock) {
  let test: ((event: EventTargeting) => boolean) | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  const shown = new Set<string>();
  return async (message: WatchEventsResponse): Promise<WatchEventsResponse | undefined> => {
    const event = message.event;
    if (!event) return message;
    const now = clock.now();
    if (!test || now - readAt >= PLAYER_REFRESH_MS) {
      test = await targeting.forPlayer(playerId, now);
      readAt = now;
    }
    if (test(event)) {
      shown.add(event.id);
      return create(WatchEventsResponseSchema, { ...message, event: playerVisible(event) });
    }
    if (!shown.delete(event.id) || message.type === EventChangeType.DELETED) return undefined;
    return create(WatchEventsResponseSchema, {
      ...message,
      type: EventChangeType.UNTARGETED,
      event: playerVisible(event),
    });
  };
}

const watchPath = methodPath(EventService.method.watchEvents);

/**
 * Checks an open stream's key again (revoked, expired, its role changed?). A database that cannot answer now does
 * not end the stream — its key was good when it started, and a key can only change through the database, so the
 * check is made again at the stream's next wake — where ending it would have every watcher of the server reconnect
 * at once into the same outage (seen with 10,000 streams on PostgreSQL: a pool wait longer than
 * DB_CONNECT_TIMEOUT_MS during a fan-out ended established streams with UNAVAILABLE).
 */
export async function recheckKey(access: AccessControl, authorization: string | null, path: string): Promise<void> {
  try {
    await access.verify(authorization, path);
  } catch (err) {
    if (!databaseAway(err)) throw err;
  }
}

/** Whether an error says the database cannot answer now (unreachable, or a statement timed out): a passing state. */
export const databaseAway = (err: unknown) =>
  err instanceof StorageUnavailableError || err instanceof StorageTimeoutError;

/** Whether a call's messages are JSON (`application/grpc+json`, `application/connect+json`, …) rather than binary. */
export const isJson = (contentType: string | null) => contentType !== null && /[+/]json\b/i.test(contentType);

/**
 * The messages a watch starts with: the events that have not ended or the changes missed since `after_sequence`, then
 * SYNCED. Changes committed while they are read reach the watcher's subscription too, which was opened before: those
 * at or below the sequence number the opening messages end with are not sent again, and a later one repeats at most
 * what a CURRENT message already showed.
 */
async function openingMessages(
  req: WatchEventsRequest,
  { store, changeLog, clock }: WatchDeps,
): Promise<WatchEventsResponse[]> {
  const now = clock.now();
  const time = timestampFromMs(now);
  const messages: WatchEventsResponse[] = [];
  let sequence = await changeLog.latestSequence();
  if (req.afterSequence > 0n) {
    const since = await changeLog.changesSince(Number(req.afterSequence));
    if (since.kind === "ahead") {
      throw invalidArgument([
        {
          field: "after_sequence",
          description: `is ahead of the newest change (${since.latest})`,
          reason: "SEQUENCE_AHEAD",
        },
      ]);
    }
    if (since.kind === "pruned") {
      throw serviceError(
        Code.OutOfRange,
        "SEQUENCE_TOO_OLD",
        `the change log no longer holds the changes after ${req.afterSequence} (the oldest kept is ${since.oldest}); watch again with include_current`,
        { metadata: { oldest_sequence: String(since.oldest) } },
      );
    }
    messages.push(...since.changes);
    sequence = since.latest;
  }
  if (req.includeCurrent) {
    for (const row of await store.eventsNotEnded(now)) {
      messages.push(
        create(WatchEventsResponseSchema, {
          type: EventChangeType.CURRENT,
          sequence: BigInt(sequence),
          time,
          event: rowToEvent(row, await store.stateAt(row, now)),
        }),
      );
    }
  }
  messages.push(create(WatchEventsResponseSchema, { type: EventChangeType.SYNCED, sequence: BigInt(sequence), time }));
  return messages;
}

/**
 * liveops.v1.EventService.WatchEvents. The stream ends with RESOURCE_EXHAUSTED when its client falls too far
 * behind, UNAUTHENTICATED or PERMISSION_DENIED as soon as its key is revoked, expires or loses the role (checked
 * whenever it wakes, and at once after a key change through this server), UNAVAILABLE when the server shuts down;
 * it frees its queue as soon as the client goes away.
 */
export function createWatchEvents(deps: WatchDeps) {
  const { feed, access, clock, heartbeatMs, streamsShutdown, targeting } = deps;
  return async function* watchEvents(
    req: WatchEventsRequest,
    ctx: HandlerContext,
  ): AsyncGenerator<WatchEventsResponse> {
    if (req.afterSequence < 0n) {
      throw invalidArgument([{ field: "after_sequence", description: "must not be negative", reason: "NEGATIVE" }]);
    }
    if (req.afterSequence > 0n && req.includeCurrent) {
      throw invalidArgument([
        {
          field: "include_current",
          description: "cannot be combined with after_sequence: the current events already include every change",
          reason: "CONFLICT",
        },
      ]);
    }
    const authorization = ctx.requestHeader.get("authorization");
    const player = ctx.values.get(principalKey)?.playerId;
    const view = player === undefined ? undefined : createPlayerFilter(targeting, player, clock);
    // A change goes to every watcher the same: a binary stream sends its one encoding (see sharedEncoding).
    const shared = isJson(ctx.requestHeader.get("content-type"))
      ? (change: WatchEventsResponse) => change
      : sharedEncoding;
    const subscription = feed.subscribe([ctx.signal, streamsShutdown]);
    try {
      const opening = await openingMessages(req, deps);
      let sent = (opening.at(-1) as WatchEventsResponse).sequence;
      for (const message of opening) {
        const shown = view ? await view(message) : message;
        if (shown) yield shown;
      }
      let heartbeatAt = clock.now() + heartbeatMs;
      for (;;) {
        if (subscription.overflowed) {
          throw serviceError(
            Code.ResourceExhausted,
            "WATCHER_TOO_SLOW",
            "the stream fell too far behind the changes; watch again with after_sequence to resume",
            { metadata: { last_sequence: String(sent) } },
          );
        }
        const change = subscription.take();
        if (change) {
          // Changes committed while the opening messages were read are already in them.
          if (change.sequence <= sent) continue;
          await recheckKey(access, authorization, watchPath);
          sent = change.sequence;
          const shown = view ? await view(change) : shared(change);
          if (!shown) continue;
          heartbeatAt = clock.now() + heartbeatMs;
          yield shown;
          continue;
        }
        const why = await subscription.wait(heartbeatAt);
        if (why === "aborted") break;
        await recheckKey(access, authorization, watchPath);
        if (why === "time" && clock.now() >= heartbeatAt) {
          const now = clock.now();
          heartbeatAt = now + heartbeatMs;
          yield create(WatchEventsResponseSchema, {
            type: EventChangeType.HEARTBEAT,
            sequence: sent,
            time: timestampFromMs(now),
          });
        }
      }
      if (streamsShutdown.aborted) throw new ConnectError("the server is shutting down", Code.Unavailable);
    } finally {
      subscription.close();
    }
  };
}
