import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { connectClients } from "./support/clients.js";
import { startTestServer } from "./support/server.js";

// The transport metrics on /metrics: every call counted once, on its protocol, with its code; each test has a
// server of its own so that the counts are exact.
describe("Prometheus metrics", () => {
  it("count a known set of calls with the right labels", async () => {
    const observed = await startTestServer();
    try {
      const { events } = connectClients(observed.baseUrl, observed.keys.viewer);
      await events.listEvents({});
      await events.listEvents({});
      await events.getEvent({ id: crypto.randomUUID() }).catch(() => undefined);
      const grpc = createClient(Health, createGrpcTransport({ baseUrl: observed.baseUrl }));
      await grpc.check({});
      await fetch(`${observed.baseUrl}/events`, { headers: { authorization: `Bearer ${observed.keys.viewer}` } });
      const res = await fetch(`${observed.baseUrl}/metrics`);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
      const text = await res.text();
      const line = (labels: string) => text.split("\n").find((l) => l.startsWith(`liveops_calls_total{${labels}}`));
      expect(line('service="liveops.v1.EventService",method="ListEvents",protocol="connect",code="ok"')).toMatch(/ 2$/);
      expect(line('service="liveops.v1.EventService",method="GetEvent",protocol="connect",code="not_found"')).toMatch(
        / 1$/,
      );
      expect(line('service="grpc.health.v1.Health",method="Check",protocol="grpc",code="ok"')).toMatch(/ 1$/);
      expect(line('service="liveops.v1.EventService",method="ListEvents",protocol="rest",code="ok"')).toMatch(/ 1$/);
      expect(text).toMatch(
        /liveops_call_duration_seconds_count\{service="liveops.v1.EventService",method="ListEvents"\} 3/,
      );
      expect(text).toMatch(/liveops_db_operation_duration_seconds_count\{store="events",operation="listEvents"\} 3/);
      expect(text).toContain("liveops_calls_in_flight");
      expect(text).toContain("process_resident_memory_bytes");
      expect(text).not.toContain(observed.keys.viewer.split("_")[1]);
    } finally {
      await observed.close();
    }
  });

  it("can move to a port of their own, or be turned off", async () => {
    const portProbe = await startTestServer();
    const freePort = portProbe.port;
    await portProbe.close();
    const separate = await startTestServer({ METRICS_PORT: String(freePort) });
    const off = await startTestServer({ METRICS_ENABLED: "false" });
    try {
      expect((await fetch(`${separate.baseUrl}/metrics`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${freePort}/metrics`)).status).toBe(200);
      expect((await fetch(`${off.baseUrl}/metrics`)).status).toBe(404);
    } finally {
      await separate.close();
      await off.close();
    }
  });
});
