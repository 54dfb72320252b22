import { request as http1Request, type IncomingHttpHeaders } from "node:http";

/** What {@link rawRequest} received: the status, the headers and the body's bytes exactly as sent. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** HTTP/1.1 trailers (a chunked answer's, as gRPC sends its status). */
  trailers: NodeJS.Dict<string>;
}

/**
 * A request over HTTP/1.1 with exactly the headers given: fetch adds a Content-Type to a string body, asks for
 * gzip and decompresses on its own, which tests of content types and content codings must not have done for them.
 */
export function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string | Uint8Array,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http1Request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          trailers: res.trailers,
        }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}
