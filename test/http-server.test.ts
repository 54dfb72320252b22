import { once } from "node:events";
import { connect as connectHttp2 } from "node:http2";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpServer, type HttpServer } from "../src/server/http-server.js";

// The one-port server on its own, with short limits, over real sockets.
let server: HttpServer | undefined;
afterEach(() => server?.destroy());

async function start(options: Partial<Parameters<typeof createHttpServer>[0]>) {
  server = createHttpServer({
    handler: (_req, res) => res.end("ok"),
    maxConcurrentStreams: 10,
    ...options,
  });
  return (await server.listen(0, "127.0.0.1")).port;
}

describe("the one-port server", () => {
  it("closes an HTTP/1.1 client that is too slow to send its headers", async () => {
    const port = await start({ http1Timeouts: { headersMs: 200, requestMs: 400, checkEveryMs: 50 } });
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n"); // and never the blank line
    let answer = "";
    socket.on("data", (d) => {
      answer += d.toString();
    });
    const started = Date.now();
    await once(socket, "close");
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("sends GOAWAY to an idle HTTP/2 session", async () => {
    const port = await start({ idleSessionMs: 200 });
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    await once(session, "remoteSettings");
    await once(session, "goaway");
    session.destroy();
  });

  it("closes a connection that sends nothing", async () => {
    const port = await start({ sniffTimeoutMs: 200 });
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    await once(socket, "close");
  });
});
