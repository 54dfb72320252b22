import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClientAddressOf } from "../src/auth/client-address.js";
import { failureBucketOf } from "../src/auth/rate-limits.js";
import { loadConfig } from "../src/config.js";
import { jsonOf } from "./support/http.js";
import { startTestServer, type TestServer } from "./support/server.js";

// The limit on key guesses per client address, on a real socket: 2 per second, bursts of 4.

const WRONG_KEY = `lo_0123456789abcdef_${"A".repeat(43)}`;
const LIST = "/liveops.v1.EventService/ListEvents";

let server: TestServer;
let proxied: TestServer;
beforeAll(async () => {
  server = await startTestServer({ AUTH_FAILURE_LIMIT: "2/4" });
  proxied = await startTestServer({ AUTH_FAILURE_LIMIT: "2/4", TRUSTED_PROXIES: "127.0.0.1" });
});
afterAll(async () => {
  await server.close();
  await proxied.close();
});

/** The HTTP status of GET /events with these headers. */
async function restStatus(target: TestServer, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${target.baseUrl}/events`, { headers });
  await res.arrayBuffer();
  return res.status;
}

/** The HTTP status of a Connect JSON ListEvents with these headers. */
async function connectStatus(target: TestServer, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${target.baseUrl}${LIST}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: "{}",
  });
  await res.arrayBuffer();
  return res.status;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe("a valid key beside failing calls from the same address", () => {
  it("is never refused during a flood of keyless calls", async () => {
    const valid: number[] = [];
    const keyless: number[] = [];
    for (let round = 0; round < 20; round++) {
      const flood = Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? restStatus : connectStatus)(server, {}).then((s) => keyless.push(s)),
      );
      valid.push(await restStatus(server, bearer(server.keys.viewer)));
      valid.push(await connectStatus(server, bearer(server.keys.viewer)));
      await Promise.all(flood);
    }
    expect(valid.filter((s) => s === 200)).toHaveLength(40);
    // A missing key guesses nothing: it is UNAUTHENTICATED, never counted towards the limit.
    expect(new Set(keyless)).toEqual(new Set([401]));
  });

  it("is never refused during a flood of wrong keys and malformed headers", async () => {
    const valid: number[] = [];
    const wrong: number[] = [];
    for (let round = 0; round < 20; round++) {
      const flood = Array.from({ length: 10 }, (_, i) =>
        connectStatus(server, i % 3 === 0 ? { authorization: "Basic eA==" } : bearer(WRONG_KEY)).then((s) =>
          wrong.push(s),
        ),
      );
      valid.push(await connectStatus(server, bearer(server.keys.viewer)));
      valid.push(await restStatus(server, bearer(server.keys.operator)));
      await Promise.all(flood);
    }
    expect(valid.filter((s) => s === 200)).toHaveLength(40);
    expect(wrong.filter((s) => s === 429).length).toBeGreaterThan(0);
  });
});

describe("guessing keys from one address", () => {
  it("is limited: past the allowance unknown keys get RESOURCE_EXHAUSTED with a retry delay", async () => {
    const limited = await startTestServer({ AUTH_FAILURE_LIMIT: "2/4" });
    try {
      const responses = await Promise.all(
        Array.from({ length: 12 }, () =>
          fetch(`${limited.baseUrl}${LIST}`, {
            method: "POST",
            headers: { "content-type": "application/json", ...bearer(WRONG_KEY) },
            body: "{}",
          }),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(4);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(8);
      const refused = responses.find((r) => r.status === 429);
      expect(Number(refused?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      const body = await jsonOf(refused as Response);
      expect(JSON.stringify(body.details)).toContain("AUTH_FAILURES_RATE_LIMITED");
      // The guesser's own valid key still works.
      expect(await connectStatus(limited, bearer(limited.keys.viewer))).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe("X-Forwarded-For", () => {
  it("is ignored by default: a client cannot move its guesses to another address", async () => {
    const direct = await startTestServer({ AUTH_FAILURE_LIMIT: "2/4" });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        statuses.push(await connectStatus(direct, { ...bearer(WRONG_KEY), "x-forwarded-for": `203.0.113.${i}` }));
      }
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(8);
    } finally {
      await direct.close();
    }
  });

  it("is honoured from a trusted proxy: each client behind it has its own allowance", async () => {
    const guesser = { ...bearer(WRONG_KEY), "x-forwarded-for": "198.51.100.7" };
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push(await connectStatus(proxied, guesser));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(8);
    // Another client behind the same proxy has guessed nothing.
    expect(await connectStatus(proxied, { ...bearer(WRONG_KEY), "x-forwarded-for": "198.51.100.8" })).toBe(401);
    // The guesser cannot escape by writing its own entry left of the one the proxy appended.
    expect(await connectStatus(proxied, { ...bearer(WRONG_KEY), "x-forwarded-for": "10.9.9.9, 198.51.100.7" })).toBe(
      429,
    );
  });
});

describe("the client address of a request", () => {
  const peerOnly = createClientAddressOf([]);
  const behindProxies = createClientAddressOf(["10.0.0.0/8", "2001:db8::1"]);

  it("is the socket's peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(peerOnly("10.0.0.1", "1.2.3.4")).toBe("10.0.0.1");
    expect(peerOnly("::ffff:192.0.2.1", undefined)).toBe("192.0.2.1");
  });

  it("is the rightmost untrusted X-Forwarded-For hop when the peer is a trusted proxy", () => {
    expect(behindProxies("10.1.2.3", "203.0.113.9")).toBe("203.0.113.9");
    expect(behindProxies("10.1.2.3", "6.6.6.6, 203.0.113.9, 10.4.4.4")).toBe("203.0.113.9");
    expect(behindProxies("2001:db8::1", ["6.6.6.6", "[2001:db8:1::5]:443"])).toBe("2001:db8:1::5");
    expect(behindProxies("::ffff:10.1.2.3", "203.0.113.9:5000")).toBe("203.0.113.9");
  });

  it("is the last trusted hop when the header is missing, unreadable or names only proxies", () => {
    expect(behindProxies("10.1.2.3", undefined)).toBe("10.1.2.3");
    expect(behindProxies("10.1.2.3", "6.6.6.6, garbage")).toBe("10.1.2.3");
    expect(behindProxies("10.1.2.3", "10.7.7.7")).toBe("10.7.7.7");
  });

  it("is not read from X-Forwarded-For when the peer is not a trusted proxy", () => {
    expect(behindProxies("192.0.2.1", "10.0.0.5")).toBe("192.0.2.1");
  });

  it("counts IPv6 guesses by /64, IPv4 by address", () => {
    expect(failureBucketOf("2001:db8:1:2:aaaa::1")).toBe(failureBucketOf("2001:db8:1:2:bbbb:cccc:dddd:eeee"));
    expect(failureBucketOf("2001:db8:1:2::1")).not.toBe(failureBucketOf("2001:db8:1:3::1"));
    expect(failureBucketOf("192.0.2.1")).toBe("192.0.2.1");
  });

  it("TRUSTED_PROXIES accepts addresses and CIDR blocks and refuses anything else", () => {
    expect(loadConfig({ TRUSTED_PROXIES: "10.0.0.0/8, 192.168.1.1,::1,fd00::/8" }).trustedProxies).toEqual([
      "10.0.0.0/8",
      "192.168.1.1",
      "::1",
      "fd00::/8",
    ]);
    expect(loadConfig({}).trustedProxies).toEqual([]);
    expect(() => loadConfig({ TRUSTED_PROXIES: "10.0.0.0/33" })).toThrow(/TRUSTED_PROXIES/);
    expect(() => loadConfig({ TRUSTED_PROXIES: "proxy.local" })).toThrow(/TRUSTED_PROXIES/);
  });
});
