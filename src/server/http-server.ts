import { type EventEmitter, once } from "node:events";
import { type IncomingMessage, Server as NodeHttpServer, type ServerResponse } from "node:http";
import type {
  Http2ServerRequest,
  Http2ServerResponse,
  Http2Session,
  IncomingHttpHeaders,
  ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { createServer as createPolyglotServer } from "@httptoolkit/httpolyglot";

/** A request listener for both HTTP/1.1 and HTTP/2 requests. */
export type RequestHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

/** Options of {@link createHttpServer}. */
export interface HttpServerOptions {
  handler: RequestHandler;
  /**
   * Offered every HTTP/2 request first, as its raw stream: returns true when it answers it, false to leave it to
   * `handler` (through Node's compatibility layer).
   */
  streamHandler?: ((stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean) | undefined;
  /** PEM certificate and key: when given, TLS connections (ALPN h2 and http/1.1) are accepted as well. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  maxConcurrentStreams: number;
  /** Largest HTTP header block, for both HTTP versions. */
  maxHeaderBytes?: number;
  /** A connection that sends no byte within this time is closed before any protocol is chosen. */
  sniffTimeoutMs?: number;
  /** An HTTP/2 session with no frame in this time gets GOAWAY. */
  idleSessionMs?: number;
  /** HTTP/1.1 slow-client limits: all headers within `headersMs`, the whole request within `requestMs`. */
  http1Timeouts?: { headersMs: number; requestMs: number; checkEveryMs?: number };
}

/** One port serving plaintext HTTP/1.1, h2c (prior knowledge) and, when configured, TLS with ALPN. */
export interface HttpServer {
  listen(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Stops accepting connections, sends GOAWAY to HTTP/2 sessions and closes idle HTTP/1.1 connections; resolves
   * when every in-flight request has finished and every HTTP/2 session has closed, or `graceMs` has passed,
   * whichever comes first.
   */
  drain(graceMs: number): Promise<void>;
  /** Destroys every remaining connection. */
  destroy(): void;
}

/** Creates the one-port server (not yet listening). */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  /** HTTP/1.1 sockets that carried a request, and how many requests each has in flight. */
  const http1Sockets = new Set<Socket>();
  const busy = new Map<Socket, number>();
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | undefined;
  const maxHeaderBytes = options.maxHeaderBytes ?? 16 * 1024;

  const handler: RequestHandler = (req, res) => {
    inFlight++;
    const socket = req.httpVersionMajor === 1 ? (req.socket as Socket) : undefined;
    if (socket) {
      if (!http1Sockets.has(socket)) {
        http1Sockets.add(socket);
        socket.once("close", () => http1Sockets.delete(socket));
      }
      busy.set(socket, (busy.get(socket) ?? 0) + 1);
    }
    if (draining && socket) res.setHeader("connection", "close");
    res.once("close", () => {
      inFlight--;
      if (socket) {
        const left = (busy.get(socket) ?? 1) - 1;
        if (left > 0) busy.set(socket, left);
        else {
          busy.delete(socket);
          if (draining) socket.destroySoon();
        }
      }
      if (draining) drained?.();
    });
    options.handler(req, res);
  };

  const server = createPolyglotServer(
    {
      http: {
        maxHeaderSize: maxHeaderBytes,
        headersTimeout: options.http1Timeouts?.headersMs ?? 30_000,
        requestTimeout: options.http1Timeouts?.requestMs ?? 60_000,
        connectionsCheckingInterval: options.http1Timeouts?.checkEveryMs ?? 30_000,
        keepAliveTimeout: 5_000,
      },
      http2: {
        maxSessionMemory: 64,
        settings: { maxConcurrentStreams: options.maxConcurrentStreams, maxHeaderListSize: maxHeaderBytes },
        // Rapid-reset floods (CVE-2023-44487): nghttp2 answers more resets than this with GOAWAY. These are
        // nghttp2's own defaults, stated so they do not silently change; @types/node 20 does not list them.
        ...{ streamResetBurst: 1000, streamResetRate: 33 },
      },
      ...(options.tls ? { tls: { ...options.tls, ALPNProtocols: ["h2", "http/1.1"] } } : {}),
    },
    handler as Parameters<typeof createPolyglotServer>[1],
  );

  // Node's HTTP/1.1 server enforces headersTimeout and requestTimeout from a check it starts when it emits
  // "listening"; httpolyglot's inner HTTP/1.1 server never listens itself (the outer server owns the port), so
  // without this the slow-client limits would never apply. The field is private to httpolyglot, pinned at 3.1.0;
  // a test fails if it moves.
  const http1Server = (server as unknown as { _httpServer?: unknown })._httpServer;
  if (!(http1Server instanceof NodeHttpServer)) throw new Error("httpolyglot has no inner HTTP/1.1 server");
  // httpolyglot also adds this listener to its inner servers: the flag stops it re-emitting from there.
  let http1Listening = false;
  server.once("listening", () => {
    if (http1Listening) return;
    http1Listening = true;
    http1Server.emit("listening");
  });

  // Before handing a plaintext HTTP/2 connection on, httpolyglot marks its TCP handle as no StreamBase, which makes
  // Node run the whole session through a JavaScript stream wrapper (measured: a third of the h2c throughput). Node
  // 20 reads the sniffed bytes httpolyglot put back from the socket's buffer itself, so the native handle serves
  // them: undo the mark before Node's own listener sees the socket. (Same private-field pin as above.)
  const http2Server = (server as unknown as { _http2Server?: EventEmitter })._http2Server;
  if (!http2Server) throw new Error("httpolyglot has no inner HTTP/2 server");
  http2Server.prependListener("connection", (socket: { _handle?: object | null }) => {
    if (socket._handle && Object.hasOwn(socket._handle, "isStreamBase")) {
      delete (socket._handle as { isStreamBase?: boolean }).isStreamBase;
    }
  });

  const { streamHandler } = options;
  if (streamHandler) {
    // Node's compatibility layer listens to "stream" to make a request and a response for every HTTP/2 stream: it
    // runs only for the streams the raw handler leaves.
    const compatibility = http2Server.listeners("stream") as ((...args: unknown[]) => void)[];
    http2Server.removeAllListeners("stream");
    http2Server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ...rest: unknown[]) => {
      // A stream reset by its client emits an error: without a listener it would end the process.
      stream.on("error", ignore);
      inFlight++;
      if (streamHandler(stream, headers)) {
        stream.once("close", () => {
          inFlight--;
          if (draining) drained?.();
        });
        return;
      }
      inFlight--;
      stream.off("error", ignore);
      for (const listener of compatibility) listener.call(http2Server, stream, headers, ...rest);
    });
  }

  const sniffTimeoutMs = options.sniffTimeoutMs ?? 10_000;
  // httpolyglot forwards "connection" listeners to its HTTP, HTTP/2 and TLS servers too: the set ignores repeats.
  server.on("connection", (socket: Socket) => {
    if (sockets.has(socket)) return;
    sockets.add(socket);
    // Without it, small HTTP/2 responses wait for the peer's delayed ACK (about 40 ms per call).
    socket.setNoDelay(true);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, sniffTimeoutMs).unref();
  });
  server.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.setTimeout(options.idleSessionMs ?? 300_000, () => session.close());
    session.once("close", () => {
      sessions.delete(session);
      if (draining) drained?.();
    });
    if (draining) session.close();
  });

  return {
    async listen(port, host) {
      server.listen(port, host);
      await once(server, "listening");
      return server.address() as AddressInfo;
    },
    async drain(graceMs) {
      draining = true;
      server.close();
      for (const session of sessions) session.close();
      // Idle keep-alive connections close now; busy ones after their response. HTTP/2 ones close with their session.
      for (const socket of http1Sockets) if (!busy.has(socket)) socket.destroySoon();
      for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
      // Done when every request has ended and every HTTP/2 session has closed after its last stream, so that the
      // final frames (a stream's trailers) reach the client before anything is destroyed.
      const done = () => inFlight === 0 && sessions.size === 0;
      if (done()) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        drained = () => {
          if (!done()) return;
          clearTimeout(timer);
          resolve();
        };
      });
    },
    destroy() {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
  };
}

function ignore() {}
