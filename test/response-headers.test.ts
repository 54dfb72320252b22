import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./support/server.js";

// Headers every answer carries, REST and RPC alike: browser hardening, and a request id that ties it to the logs.
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const viewerHeaders = () => ({ authorization: `Bearer ${server.keys.viewer}` });

describe("HTTP responses", () => {
  it("carry security headers and echo or make a request id", async () => {
    const mine = await fetch(`${server.baseUrl}/events`, {
      headers: { ...viewerHeaders(), "x-request-id": "abc-123" },
    });
    expect(mine.headers.get("x-request-id")).toBe("abc-123");
    expect(mine.headers.get("x-content-type-options")).toBe("nosniff");
    expect(mine.headers.get("x-frame-options")).toBe("DENY");
    const rpc = await fetch(`${server.baseUrl}/liveops.v1.EventService/ListEvents`, {
      method: "POST",
      headers: { ...viewerHeaders(), "content-type": "application/json" },
      body: "{}",
    });
    expect(rpc.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(rpc.headers.get("content-security-policy")).toBe("frame-ancestors 'none'");
    const id = rpc.headers.get("x-request-id");
    expect(server.logs.some((l) => l.msg === "call" && l.request_id === id)).toBe(true);
  });
});
