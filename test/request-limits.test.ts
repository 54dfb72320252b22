import { type ClientHttp2Session, connect, constants } from "node:http2";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClients } from "./support/clients.js";
import { grpcRequestHeaders } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

// A hostile client costs the server bounded memory and streams, and the others are still served.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

async function stillAnswers() {
  const { events } = connectClients(server.baseUrl, server.keys.viewer);
  await expect(events.listEvents({ pageSize: 1 })).resolves.toBeDefined();
}

describe("oversized and compressed input", () => {
  it("refuses gzip bombs with RESOURCE_EXHAUSTED while memory stays flat, and keeps answering", async () => {
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${server.baseUrl}/liveops.v1.EventAdminService/CreateEvent`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${server.keys.operator}`,
          "content-type": "application/json",
          "content-encoding": "gzip",
        },
        body: bomb,
      });
      expect(res.status).toBe(429);
      await res.arrayBuffer();
    }
    // Ten 200 MiB inflations would need 2 GiB; the limit stops each at 4 MiB.
    expect(process.memoryUsage().rss - before).toBeLessThan(150 * 1024 * 1024);
    await stillAnswers();
  });
});

describe("HTTP/2 rapid reset (CVE-2023-44487)", () => {
  it("a client opening and cancelling streams in a flood is cut off, and others are still served", async () => {
    const session: ClientHttp2Session = connect(server.baseUrl);
    session.on("error", () => {});
    const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    let goaway = false;
    session.once("goaway", () => {
      goaway = true;
    });
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    let opened = 0;
    for (let round = 0; round < 100 && !session.closed && !session.destroyed && !goaway; round++) {
      for (let i = 0; i < 100 && !session.closed && !session.destroyed; i++) {
        try {
          const stream = session.request(grpcRequestHeaders("/liveops.v1.EventService/ListEvents", server.keys.viewer));
          stream.on("error", () => {});
          stream.close(constants.NGHTTP2_CANCEL);
          opened++;
        } catch {
          break;
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const ended = await Promise.race([closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
    session.destroy();
    // Measured here: nghttp2 sends GOAWAY after about 1,100 open-and-cancel streams.
    expect(goaway || ended).toBe(true);
    expect(opened).toBeLessThan(10_000);
    await stillAnswers();
  });
});
