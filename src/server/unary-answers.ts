import { Code, ConnectError } from "@connectrpc/connect";
import { type LazyHeaders, nodeHeaders } from "./call-headers.js";
import { type ConditionalRead, cacheHeaders, sendNotModified } from "./conditional-reads.js";
import { type Compression, connect, type createMethodSerializationLookup, grpc, grpcWeb } from "./connect-internals.js";
import { envelope, FLAG_COMPRESSED, FLAG_TRAILER } from "./envelopes.js";
import { grpcMessageEncode } from "./grpc-message.js";
import type { RequestHandler } from "./http-server.js";
import type { Dialect } from "./unary-dialects.js";

type NodeResponse = Parameters<RequestHandler>[1];

/** What an answer is written on: Node's response (HTTP/1.1, HTTP/2 compat) or a raw HTTP/2 stream's. */
export interface AnswerSink {
  writeHead(status: number, headers: Record<string, string>): unknown;
  addTrailers(trailers: Record<string, string>): void;
  end(body: Uint8Array): unknown;
  end(): unknown;
}

/** How answers are written: connect's compression threshold and JSON options. */
export interface AnswerOptions {
  /** Responses smaller than this are not compressed (connect's default: 1 KiB). */
  compressMinBytes: number;
  jsonOptions: Parameters<typeof createMethodSerializationLookup>[2];
}

/**
 * The status of a gRPC or gRPC-Web answer, with connect's `setTrailerStatus` (status, details, error metadata) but
 * the message percent-encoded as the gRPC spec says: only bytes outside printable ASCII and "%" itself. connect
 * encodes with encodeURIComponent, which also escapes ":" and other reserved characters that grpc-js and
 * grpc-go then show escaped.
 */
function grpcStatus(trailer: Headers, error: ConnectError | undefined): Headers {
  grpc.setTrailerStatus(trailer, error);
  if (error) trailer.set("grpc-message", grpcMessageEncode(error.rawMessage));
  return trailer;
}
/** The trailer frame of a gRPC-Web answer without error or custom trailers. */
const GRPC_WEB_OK_TRAILER = envelope(FLAG_TRAILER, Buffer.from("grpc-status: 0\r\n"));

/** Where and how a call answers. */
export interface Answer {
  res: AnswerSink;
  dialect: Dialect;
  header: LazyHeaders;
  trailer: LazyHeaders;
  /** The response compression negotiated with the client, if any. */
  compression: Compression | null;
  /**
   * A Connect GET (served through Node's response only): answered with an ETag and caching headers, or 304 (see
   * conditional-reads.ts).
   */
  conditional: { read: ConditionalRead; res: NodeResponse } | undefined;
}

/** A Connect GET's body depends on whose key asks, and on the compression its Accept-Encoding negotiates. */
export const CONNECT_GET_VARY = ["Authorization", "Accept-Encoding"] as const;

/** Writes a unary answer — a serialized message or an error — in the call's protocol. */
export function write(
  answer: Answer,
  message: Uint8Array | undefined,
  error: ConnectError | undefined,
  options: AnswerOptions,
) {
  const { compression } = answer;
  const compressing = compression && message && !error && message.byteLength >= options.compressMinBytes;
  if (answer.conditional) {
    const body = error ? undefined : message;
    const headers = answer.header.get();
    const { read, res } = answer.conditional;
    if (cacheHeaders(res, headers, read, body, compressing ? compression.name : undefined)) {
      // The client's copy is current: nothing to compress or send.
      return sendNotModified(res, nodeHeaders(headers));
    }
  }
  if (compressing) {
    compression.compress(message).then(
      (compressed) => send(answer, compressed, compression.name, undefined, options),
      (err: unknown) => send(answer, undefined, undefined, ConnectError.from(err), options),
    );
  } else send(answer, message, undefined, error, options);
}

/** The gRPC status trailers of an answer, as Node headers. */
function grpcTrailers(trailer: LazyHeaders, error: ConnectError | undefined): Record<string, string> {
  if (!error && !trailer.made) return { "grpc-status": grpc.grpcStatusOk };
  return nodeHeaders(grpcStatus(trailer.get(), error));
}

function send(
  { res, dialect, header, trailer, compression }: Answer,
  message: Uint8Array | undefined,
  /** The encoding `message` is compressed with, if it is. */
  encoding: string | undefined,
  error: ConnectError | undefined,
  options: Pick<AnswerOptions, "jsonOptions">,
) {
  const flags = encoding ? FLAG_COMPRESSED : 0;
  switch (dialect.protocol) {
    case "grpc": {
      const headers = nodeHeaders(header.made);
      headers["content-type"] = dialect.contentType;
      if (compression) headers[dialect.encodingHeader] = compression.name;
      res.writeHead(200, headers);
      res.addTrailers(grpcTrailers(trailer, error));
      if (message && !error) res.end(envelope(flags, message));
      else res.end();
      return;
    }
    case "grpc-web": {
      const headers = nodeHeaders(header.made);
      headers["content-type"] = dialect.contentType;
      if (compression) headers[dialect.encodingHeader] = compression.name;
      const trailerFrame =
        !error && !trailer.made
          ? GRPC_WEB_OK_TRAILER
          : envelope(FLAG_TRAILER, grpcWeb.trailerSerialize(grpcStatus(trailer.get(), error)));
      const body = message && !error ? Buffer.concat([envelope(flags, message), trailerFrame]) : trailerFrame;
      headers["content-length"] = String(body.byteLength);
      res.writeHead(200, headers);
      res.end(body);
      return;
    }
    case "connect": {
      let status = 200;
      let body: Uint8Array;
      let headers: Record<string, string>;
      if (error || !message) {
        const shown = error ?? new ConnectError("internal error", Code.Internal);
        status = connect.codeToHttpStatus(shown.code);
        const all = header.get();
        shown.metadata.forEach((value, name) => {
          all.set(name, value);
        });
        all.set("content-type", connect.contentTypeUnaryJson);
        headers = nodeHeaders(trailer.made ? connect.trailerMux(all, trailer.get()) : all);
        body = connect.errorToJsonBytes(shown, options.jsonOptions ?? {});
      } else {
        headers = nodeHeaders(trailer.made ? connect.trailerMux(header.get(), trailer.get()) : header.made);
        headers["content-type"] = dialect.contentType;
        if (encoding) headers[dialect.encodingHeader] = encoding;
        body = message;
      }
      headers["content-length"] = String(body.byteLength);
      res.writeHead(status, headers);
      res.end(body);
      return;
    }
  }
}
