// A light gRPC client for many server streams at once (WatchEvents, WatchLeaderboard) and for unary calls at a
// rate: node:http2 with the gRPC framing written out, so that receiving 10,000 streams' messages costs this process
// little next to the server it measures. See bench/README.md, "Watch streams at scale".
import { type ClientHttp2Session, type ClientHttp2Stream, connect } from "node:http2";

/** How a stream or call ended: its grpc-status (or the HTTP/2 reset that ended it) and message. */
export interface StreamEnd {
  /** grpc-status; for a stream reset without one, -1. */
  code: number;
  message: string;
  /** The HTTP/2 RST_STREAM code, when the stream was reset. */
  rstCode?: number;
}

/** One gRPC request frame: flag byte 0, 4-byte big-endian length, the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/**
 * Splits a stream's bytes into gRPC messages as they arrive (a message may span DATA frames, a frame may hold
 * several messages): calls `onMessage` with each message's bytes.
 */
function envelopeReader(onMessage: (bytes: Buffer) => void) {
  let pending: Buffer | undefined;
  return (chunk: Buffer) => {
    let data = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    while (data.length >= 5) {
      const length = data.readUInt32BE(1);
      if (data.length < 5 + length) break;
      onMessage(data.subarray(5, 5 + length));
      data = data.subarray(5 + length);
    }
    if (data.length > 0) pending = Buffer.from(data);
  };
}

/** The end of a call from its trailers (or trailers-only response headers). */
function endOf(headers: Record<string, unknown>): StreamEnd | undefined {
  const status = headers["grpc-status"];
  if (status === undefined) return undefined;
  return { code: Number(status), message: decodeURIComponent(String(headers["grpc-message"] ?? "")) };
}

/** HTTP/2 connections to one server, each carrying at most `perConnection` streams. */
export function createConnections(port: number, perConnection: number) {
  const sessions: { session: ClientHttp2Session; open: number }[] = [];
  const sessionFor = () => {
    let entry = sessions.find((s) => s.open < perConnection && !s.session.closed && !s.session.destroyed);
    if (!entry) {
      // Windows large enough that flow control never holds a watcher back (it reads as fast as messages come): each
      // stream's, and the connection's, which 100 streams share (65,535 bytes by default: less than one change each).
      const session = connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 1 << 20 } });
      session.once("connect", () => session.setLocalWindowSize(32 << 20));
      session.on("error", () => {});
      entry = { session, open: 0 };
      sessions.push(entry);
    }
    return entry;
  };
  return {
    /** Connections opened so far. */
    get count() {
      return sessions.length;
    },
    /** Sends one gRPC request on a connection with room for one more stream. */
    request(path: string, authorization: string, body: Buffer): ClientHttp2Stream {
      const entry = sessionFor();
      entry.open++;
      const stream = entry.session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        authorization,
      });
      stream.once("close", () => entry.open--);
      stream.end(body);
      return stream;
    },
    /** Closes every connection at once. */
    destroy() {
      for (const { session } of sessions) session.destroy();
    },
  };
}

/** The connections of {@link createConnections}. */
export type Connections = ReturnType<typeof createConnections>;

/**
 * Opens a server stream: calls `onMessage` with each message's bytes and the time it arrived (performance.now()),
 * and `onEnd` once when it ends (trailers, a reset, or the connection gone).
 */
export function openStream(
  connections: Connections,
  options: {
    path: string;
    authorization: string;
    body: Buffer;
    onMessage: (bytes: Buffer, at: number) => void;
    onEnd: (end: StreamEnd) => void;
  },
): ClientHttp2Stream {
  const stream = connections.request(options.path, options.authorization, options.body);
  let ended = false;
  const end = (result: StreamEnd) => {
    if (ended) return;
    ended = true;
    options.onEnd(result);
  };
  const read = envelopeReader((bytes) => options.onMessage(bytes, performance.now()));
  stream.on("response", (headers) => {
    const status = endOf(headers);
    if (status) end(status);
  });
  stream.on("data", read);
  stream.on("trailers", (trailers) => {
    const status = endOf(trailers);
    if (status) end(status);
  });
  stream.on("error", () => {});
  stream.on("close", () => end({ code: -1, message: "reset", rstCode: stream.rstCode ?? 0 }));
  return stream;
}

/** One unary call: its response message's bytes, or how it failed. */
export function unaryCall(
  connections: Connections,
  path: string,
  authorization: string,
  body: Buffer,
): Promise<{ ok: true; bytes: Buffer } | { ok: false; end: StreamEnd }> {
  return new Promise((resolve) => {
    let message: Buffer | undefined;
    openStream(connections, {
      path,
      authorization,
      body,
      onMessage: (bytes) => {
        message = Buffer.from(bytes);
      },
      onEnd: (end) => {
        if (end.code === 0 && message) resolve({ ok: true, bytes: message });
        else resolve({ ok: false, end });
      },
    });
  });
}
