import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { dirname, extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, gzipSync, constants as zlib } from "node:zlib";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** The dashboard only loads its own files and talks to its own origin. */
const DASHBOARD_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** One stored form of a file: as built, or compressed. */
interface Encoded {
  body: Buffer;
  etag: string;
}

interface StaticFile {
  type: string;
  identity: Encoded;
  /** Brotli and gzip forms of a text file (absent for small files and images, where they would not pay). */
  br?: Encoded;
  gzip?: Encoded;
  /** Files under assets/ have content hashes in their names: cached for a year. index.html is revalidated. */
  immutable: boolean;
}

/** Text types worth compressing; images are compressed already. */
const COMPRESSIBLE = new Set([".html", ".js", ".css", ".svg", ".json", ".txt"]);
/** Below this size a compressed body saves less than its headers cost. */
const COMPRESS_MIN_BYTES = 1024;

const etagOf = (body: Buffer, suffix = "") =>
  `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}${suffix}"`;

/**
 * The file and its compressed forms. Compressed once when the server starts, so no request pays for compression:
 * brotli at quality 9 takes ~0.16 s for the dashboard's 586 kB of script and makes it 28 % of that; quality 11
 * would save 7 % more but take 1.2 s of every start.
 */
function staticFile(path: string, urlPath: string, body: Buffer): StaticFile {
  const extension = extname(path);
  const file: StaticFile = {
    type: CONTENT_TYPES[extension] ?? "application/octet-stream",
    identity: { body, etag: etagOf(body) },
    immutable: urlPath.startsWith("/assets/"),
  };
  if (COMPRESSIBLE.has(extension) && body.length >= COMPRESS_MIN_BYTES) {
    const br = brotliCompressSync(body, {
      params: { [zlib.BROTLI_PARAM_QUALITY]: 9, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length },
    });
    const gzip = gzipSync(body, { level: zlib.Z_BEST_COMPRESSION });
    // The encoding is part of the validator: a cache must not answer a gzip request with a kept brotli body.
    if (br.length < body.length) file.br = { body: br, etag: etagOf(body, "-br") };
    if (gzip.length < body.length) file.gzip = { body: gzip, etag: etagOf(body, "-gz") };
  }
  return file;
}

/**
 * Whether the Accept-Encoding header accepts `coding`: named with a q above 0, or not named and `*` accepted
 * (RFC 9110: an entry naming the coding wins over `*`, so `br;q=0, *` refuses br).
 */
function accepts(header: string | undefined, coding: string): boolean {
  if (!header) return false;
  const weights = new Map<string, number>();
  for (const item of header.split(",")) {
    const [name = "", ...params] = item.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    weights.set(name.trim(), q === undefined ? 1 : Number(q.slice(2)));
  }
  return (weights.get(coding) ?? weights.get("*") ?? 0) > 0;
}

/**
 * The browser dashboard (web/, built by `npm run build` into dist/web): its files read into memory once, served at
 * `/` and `/assets/…` on GET and HEAD with their content types, ETags, and cache headers, brotli- or gzip-compressed
 * when the client accepts it. Returns a handler that answers true for a dashboard path; every other path is the API's.
 */
export function createDashboard(dir: string | undefined) {
  const files = new Map<string, StaticFile>();
  if (dir && existsSync(join(dir, "index.html"))) {
    const walk = (folder: string) => {
      for (const name of readdirSync(folder)) {
        const path = join(folder, name);
        if (statSync(path).isDirectory()) walk(path);
        else {
          const urlPath = `/${relative(dir, path).split(sep).join("/")}`;
          files.set(urlPath, staticFile(path, urlPath, readFileSync(path)));
        }
      }
    };
    walk(dir);
  }
  const index = files.get("/index.html");

  return {
    /** Whether the dashboard was found (built). */
    available: index !== undefined,
    serve(req: Request, res: Response, path: string): boolean {
      if (req.method !== "GET" && req.method !== "HEAD") return false;
      const file =
        path === "/" ? index : path.startsWith("/assets/") || path === "/favicon.svg" ? files.get(path) : undefined;
      if (!file) return false;
      const acceptEncoding = req.headers["accept-encoding"];
      const [coding, form] =
        file.br && accepts(acceptEncoding, "br")
          ? ["br", file.br]
          : file.gzip && accepts(acceptEncoding, "gzip")
            ? ["gzip", file.gzip]
            : [undefined, file.identity];
      res.setHeader("content-security-policy", DASHBOARD_CSP);
      res.setHeader("etag", form.etag);
      res.setHeader("cache-control", file.immutable ? "public, max-age=31536000, immutable" : "no-cache");
      if (file.br || file.gzip) res.setHeader("vary", "accept-encoding");
      if (req.headers["if-none-match"] === form.etag) {
        res.statusCode = 304;
        res.end();
        return true;
      }
      res.statusCode = 200;
      res.setHeader("content-type", file.type);
      if (coding) res.setHeader("content-encoding", coding);
      res.setHeader("content-length", String(form.body.length));
      if (req.method === "HEAD") res.end();
      else res.end(form.body);
      return true;
    },
  };
}

/** dist/web of this installation, found by walking up from this file (src/ in tests, dist/src/ in production). */
export function installedDashboardDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "dist", "web");
    if (existsSync(join(candidate, "index.html"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
