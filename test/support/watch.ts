import type { ClientHttp2Session, ClientHttp2Stream } from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import {
  EventChangeType,
  type EventService,
  type WatchEventsRequest,
  WatchEventsRequestSchema,
  type WatchEventsResponse,
} from "../../gen/liveops/v1/event_service_pb.js";

/** Messages that report a change of an event, not the stream's own bookkeeping. */
export function isChange(message: WatchEventsResponse): boolean {
  return ![EventChangeType.SYNCED, EventChangeType.HEARTBEAT, EventChangeType.CURRENT].includes(message.type);
}

/** Waits until `condition` holds, checking every few milliseconds; fails after `timeoutMs` saying `what`. */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A WatchEvents stream read in the background: its messages so far, and its error once it ends with one. */
export interface Watch {
  messages: WatchEventsResponse[];
  readonly error: ConnectError | undefined;
  readonly ended: boolean;
  changes(): WatchEventsResponse[];
  /** Resolves once the stream has sent SYNCED. */
  synced(): Promise<void>;
  /** Resolves once the stream has sent `n` changes. */
  changeCount(n: number): Promise<void>;
  stop(): Promise<void>;
}

/** Adapts a stream of messages, ended by `cancel`, into a {@link Watch}. */
export function watchFrom(
  start: (onMessage: (m: WatchEventsResponse) => void, signal: AbortSignal) => Promise<void>,
): Watch {
  const messages: WatchEventsResponse[] = [];
  const abort = new AbortController();
  let error: ConnectError | undefined;
  let ended = false;
  const done = start((m) => messages.push(m), abort.signal)
    .catch((e: unknown) => {
      const err = ConnectError.from(e);
      // Stopping the watch cancels it: not an error of the stream.
      if (!(abort.signal.aborted && err.code === Code.Canceled)) error = err;
    })
    .finally(() => {
      ended = true;
    });
  const changes = () => messages.filter(isChange);
  return {
    messages,
    get error() {
      return error;
    },
    get ended() {
      return ended;
    },
    changes,
    synced: () =>
      eventually(() => messages.some((m) => m.type === EventChangeType.SYNCED) || ended, "SYNCED").then(() => {
        if (error) throw error;
      }),
    changeCount: (n) => eventually(() => changes().length >= n || ended, `${n} changes`),
    async stop() {
      abort.abort();
      await done;
    },
  };
}

/** Watches with a connect-node client. */
export function watchEvents(
  events: Client<typeof EventService>,
  req: Partial<Pick<WatchEventsRequest, "afterSequence" | "includeCurrent">> = {},
): Watch {
  return watchFrom(async (onMessage, signal) => {
    for await (const message of events.watchEvents(req, { signal })) onMessage(message);
  });
}

/**
 * Opens a gRPC WatchEvents stream (the request `{}`) on a raw node:http2 `session` with the API key `key`: for tests
 * that need what a generated client hides (the bytes of each message, a client that does not read).
 */
export function rawWatchEvents(session: ClientHttp2Session, key: string): ClientHttp2Stream {
  const stream = session.request({
    ":method": "POST",
    ":path": "/liveops.v1.EventService/WatchEvents",
    "content-type": "application/grpc",
    te: "trailers",
    authorization: `Bearer ${key}`,
  });
  const body = toBinary(WatchEventsRequestSchema, create(WatchEventsRequestSchema, {}));
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  stream.end(frame);
  return stream;
}
