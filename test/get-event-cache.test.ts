// GetEvent responses are kept with their encodings (src/events/event-service.ts, src/server/encoding-memo.ts):
// a kept response must never outlive the event version or the status it was made for.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EventStatus } from "../gen/liveops/v1/event_pb.js";
import { EventService } from "../gen/liveops/v1/event_service_pb.js";
import { codeOf, connectClients, transportsFor } from "./support/clients.js";
import { startTestServer, type TestServer } from "./support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

it("a GetEvent answer follows the event's status over time, its updates and its deletion, on every protocol", async () => {
  const { admin } = connectClients(server.baseUrl, server.keys.operator);
  const now = server.clock.now();
  const created = await admin.createEvent({
    event: { title: "before", startTime: timestampFromMs(now + 60_000), endTime: timestampFromMs(now + 120_000) },
  });
  const id = created.event?.id ?? "";
  const readers = Object.values(transportsFor(server.baseUrl, server.keys.viewer)).map((t) =>
    createClient(EventService, t),
  );
  const rest = async () =>
    (await (
      await fetch(`${server.baseUrl}/events/${id}`, {
        headers: { authorization: `Bearer ${server.keys.viewer}` },
      })
    ).json()) as { event: { title: string; status: string } };
  const seen = async () => {
    const answers = await Promise.all(readers.map((c) => c.getEvent({ id })));
    return { rpc: answers.map((a) => [a.event?.title, a.event?.status]), rest: (await rest()).event };
  };
  const expectAll = async (title: string, status: EventStatus, restStatus: string) => {
    const got = await seen();
    expect(got.rpc).toEqual(readers.map(() => [title, status]));
    expect(got.rest).toMatchObject({ title, status: restStatus });
  };

  await expectAll("before", EventStatus.UPCOMING, "EVENT_STATUS_UPCOMING");
  server.clock.advance(60_000);
  await expectAll("before", EventStatus.ACTIVE, "EVENT_STATUS_ACTIVE");
  await admin.updateEvent({ event: { id, title: "after" }, updateMask: { paths: ["title"] } });
  await expectAll("after", EventStatus.ACTIVE, "EVENT_STATUS_ACTIVE");
  server.clock.advance(60_000);
  await expectAll("after", EventStatus.ENDED, "EVENT_STATUS_ENDED");
  await admin.deleteEvent({ id });
  for (const reader of readers) expect(await codeOf(reader.getEvent({ id }))).toBe(Code.NotFound);
});
