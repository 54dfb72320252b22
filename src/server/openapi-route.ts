import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
// Imported, not read from disk: tsc then copies the file into dist/gen, so the build and the image serve it too.
import openApiDocument from "../../gen/openapi.json" with { type: "json" };
import { entityTag, noneMatchHits } from "./conditional-reads.js";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** The path the document is served at. */
export const OPENAPI_PATH = "/openapi.json";

/** Serialized once at start: the document only changes with the server's code. */
const body = Buffer.from(JSON.stringify(openApiDocument));
const etag = entityTag(body);

/**
 * Answers `GET`/`HEAD /openapi.json` with the OpenAPI 3.1 document generated from the protos (gen/openapi.json) and
 * returns true; returns false for anything else. Public (no key: it describes the API, not its data), readable from
 * any origin so that API tools in a browser can load it, and revalidated by ETag (304 when unchanged).
 */
export function serveOpenApi(req: Request, res: Response, path: string): boolean {
  if (path !== OPENAPI_PATH || (req.method !== "GET" && req.method !== "HEAD")) return false;
  res.setHeader("content-type", "application/json");
  res.setHeader("cache-control", "public, no-cache");
  res.setHeader("etag", etag);
  res.setHeader("access-control-allow-origin", "*");
  if (noneMatchHits(req.headers["if-none-match"], etag)) {
    res.statusCode = 304;
    res.end();
    return true;
  }
  res.statusCode = 200;
  res.setHeader("content-length", body.length);
  if (req.method === "HEAD") res.end();
  else res.end(body);
  return true;
}
