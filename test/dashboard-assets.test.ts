import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./support/server.js";

/** A built dashboard in miniature: an index page, a script big enough to compress, a small stylesheet, an image. */
const SCRIPT = Buffer.from(`${"export const greeting = 'hello, live events';\n".repeat(400)}`);
const STYLE = Buffer.from("body { margin: 0 }\n");
const INDEX = Buffer.from(
  `<!doctype html><html><head><script type="module" src="/assets/app-1a2b.js"></script></head><body>${"<!-- padding -->".repeat(80)}<div id="root"></div></body></html>`,
);
const IMAGE = Buffer.from([0x89, 0x50, 0x4e, 0x47, ...new Array(4000).fill(0)]);

let server: TestServer;
let dir: string;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET (or HEAD) with exactly these headers: node:http decompresses nothing, so the bytes on the wire are seen. */
function get(path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.baseUrl}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "liveops-assets-"));
  mkdirSync(join(dir, "assets"));
  writeFileSync(join(dir, "index.html"), INDEX);
  writeFileSync(join(dir, "assets", "app-1a2b.js"), SCRIPT);
  writeFileSync(join(dir, "assets", "app-1a2b.css"), STYLE);
  writeFileSync(join(dir, "assets", "logo-3c4d.png"), IMAGE);
  server = await startTestServer({ DASHBOARD_DIR: dir });
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the dashboard's files, compressed", () => {
  it("sends a script brotli-compressed to a client that accepts br, smaller and byte-identical once decoded", async () => {
    const answer = await get("/assets/app-1a2b.js", { "accept-encoding": "gzip, deflate, br" });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-encoding"]).toBe("br");
    expect(answer.headers.vary).toBe("accept-encoding");
    expect(Number(answer.headers["content-length"])).toBe(answer.body.length);
    expect(answer.body.length).toBeLessThan(SCRIPT.length / 10);
    expect(brotliDecompressSync(answer.body).equals(SCRIPT)).toBe(true);
  });

  it("sends gzip to a client that accepts gzip but not br", async () => {
    const answer = await get("/assets/app-1a2b.js", { "accept-encoding": "gzip" });
    expect(answer.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(answer.body).equals(SCRIPT)).toBe(true);
  });

  it("compresses the index page too, which stays revalidated (no-cache)", async () => {
    const answer = await get("/", { "accept-encoding": "br" });
    expect(answer.headers["content-encoding"]).toBe("br");
    expect(answer.headers["cache-control"]).toBe("no-cache");
    expect(brotliDecompressSync(answer.body).equals(INDEX)).toBe(true);
  });

  it("sends the file as built to a client that accepts no encoding, or refuses one with q=0", async () => {
    const variants: Record<string, string>[] = [
      {},
      { "accept-encoding": "identity" },
      { "accept-encoding": "br;q=0, gzip;q=0" },
      { "accept-encoding": "br;q=0, gzip;q=0, *" },
    ];
    for (const headers of variants) {
      const answer = await get("/assets/app-1a2b.js", headers);
      expect(answer.headers["content-encoding"]).toBeUndefined();
      expect(answer.body.equals(SCRIPT)).toBe(true);
    }
  });

  it("gives each encoding its own ETag, and answers 304 only to the ETag of the encoding asked for", async () => {
    const br = await get("/assets/app-1a2b.js", { "accept-encoding": "br" });
    const gzip = await get("/assets/app-1a2b.js", { "accept-encoding": "gzip" });
    const plain = await get("/assets/app-1a2b.js");
    const etags = new Set([br.headers.etag, gzip.headers.etag, plain.headers.etag]);
    expect(etags.size).toBe(3);
    const again = await get("/assets/app-1a2b.js", {
      "accept-encoding": "br",
      "if-none-match": String(br.headers.etag),
    });
    expect(again.status).toBe(304);
    const otherEncoding = await get("/assets/app-1a2b.js", {
      "accept-encoding": "gzip",
      "if-none-match": String(br.headers.etag),
    });
    expect(otherEncoding.status).toBe(200);
    expect(otherEncoding.headers["content-encoding"]).toBe("gzip");
  });

  it("answers HEAD with the compressed length and no body", async () => {
    const answer = await get("/assets/app-1a2b.js", { "accept-encoding": "br" }, "HEAD");
    expect(answer.headers["content-encoding"]).toBe("br");
    expect(Number(answer.headers["content-length"])).toBeLessThan(SCRIPT.length / 10);
    expect(answer.body.length).toBe(0);
  });

  it("leaves small files and images as they are (compressing them would not pay)", async () => {
    const style = await get("/assets/app-1a2b.css", { "accept-encoding": "br, gzip" });
    expect(style.headers["content-encoding"]).toBeUndefined();
    expect(style.headers.vary).toBeUndefined();
    const image = await get("/assets/logo-3c4d.png", { "accept-encoding": "br, gzip" });
    expect(image.headers["content-encoding"]).toBeUndefined();
    expect(image.body.equals(IMAGE)).toBe(true);
  });
});
