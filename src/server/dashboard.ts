import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { dirname, extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

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

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  /** Files under assets/ have content hashes in their names: cached for a year. index.html is revalidated. */
  immutable: boolean;
}

/**
 * The browser dashboard (web/, built by `npm run build` into dist/web): its files read into memory once, served at
 * `/` and `/assets/…` on GET and HEAD with their content types, ETags, and cache headers. Returns a handler that
 * answers true for a dashboard path; every other path is the API's.
 */
export function createDashboard(dir: string | undefined) {
  const files = new Map<string, StaticFile>();
  if (dir && existsSync(join(dir, "index.html"))) {
    const walk = (folder: string) => {
      for (const name of readdirSync(folder)) {
        const path = join(folder, name);
        if (statSync(path).isDirectory()) walk(path);
        else {
          const body = readFileSync(path);
          const urlPath = `/${relative(dir, path).split(sep).join("/")}`;
          files.set(urlPath, {
            body,
            type: CONTENT_TYPES[extname(path)] ?? "application/octet-stream",
            etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
            immutable: urlPath.startsWith("/assets/"),
          });
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
      res.setHeader("content-security-policy", DASHBOARD_CSP);
      res.setHeader("etag", file.etag);
      res.setHeader("cache-control", file.immutable ? "public, max-age=31536000, immutable" : "no-cache");
      if (req.headers["if-none-match"] === file.etag) {
        res.statusCode = 304;
        res.end();
        return true;
      }
      res.statusCode = 200;
      res.setHeader("content-type", file.type);
      res.setHeader("content-length", String(file.body.length));
      if (req.method === "HEAD") res.end();
      else res.end(file.body);
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
