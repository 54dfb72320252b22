import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";

/**
 * An HTTP/2 request read straight from its stream (the server's `stream` event), without Node's compatibility
 * layer (`Http2ServerRequest`, a Readable wrapped around the stream, made for every request): what the unary fast
 * path reads of a request — method, path, headers — and the stream, which is the body.
 */
export class StreamRequest {
  readonly httpVersionMajor = 2;
  readonly method: string | undefined;
  readonly url: string | undefined;
  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
  ) {
    this.method = headers[":method"];
    this.url = headers[":path"];
  }
}

/**
 * The answer to a {@link StreamRequest}, written straight on its stream: the headers set before (`setHeader`) and
 * those of `writeHead` go out in one HEADERS frame, then the body in DATA frames, then the trailers (gRPC's status)
 * in a last HEADERS frame — the frames `Http2ServerResponse` writes, without its per-request objects.
 */
export class StreamResponse {
  #headers: OutgoingHttpHeaders;
  #trailers: Record<string, string> | undefined;
  #ended = false;
  constructor(
    readonly stream: ServerHttp2Stream,
    headers: OutgoingHttpHeaders = {},
  ) {
    this.#headers = { ...headers };
  }
  get writableEnded(): boolean {
    return this.#ended;
  }
  once(event: "close", listener: () => void): this {
    this.stream.once(event, listener);
    return this;
  }
  off(event: "close", listener: () => void): this {
    this.stream.off(event, listener);
    return this;
  }
  setHeader(name: string, value: string): this {
    this.#headers[name.toLowerCase()] = value;
    return this;
  }
  writeHead(status: number, headers: Record<string, string> = {}): this {
    Object.assign(this.#headers, headers);
    this.#headers[":status"] = status;
    return this;
  }
  addTrailers(trailers: Record<string, string>): void {
    this.#trailers = trailers;
  }
  end(body?: Uint8Array): this {
    if (this.#ended) return this;
    this.#ended = true;
    const { stream } = this;
    if (stream.destroyed || stream.closed) return this;
    const trailers = this.#trailers;
    this.#headers[":status"] ??= 200;
    if (trailers) {
      stream.once("wantTrailers", () => {
        if (!stream.destroyed) stream.sendTrailers(trailers);
      });
    }
    const hasBody = body !== undefined && body.byteLength > 0;
    stream.respond(this.#headers, { waitForTrailers: trailers !== undefined, endStream: !hasBody && !trailers });
    if (hasBody) stream.end(body);
    else if (trailers) stream.end();
    return this;
  }
}

/**
 * Waits until `stream` can take more, or is gone: true then; false when its client has read nothing for `stallMs`.
 */
export function drained(stream: ServerHttp2Stream, stallMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      stream.off("drain", onDrain);
      stream.off("close", onDrain);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const timer = setTimeout(done, stallMs, false);
    stream.on("drain", onDrain);
    stream.on("close", onDrain);
  });
}
