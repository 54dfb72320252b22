import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AudienceService } from "../gen/liveops/v1/audience_service_pb.js";
import type { EventRun } from "../gen/liveops/v1/event_pb.js";
import { bearer, codeOf, connectClients, type EventClients } from "./support/clients.js";
import { mintPlayerToken, startTestServer, type TestServer } from "./support/server.js";

// ListEventRuns without an event id: the runs of every event in a window, as the dashboard's calendar reads them,
// through a real server on the backend of this run.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let server: TestServer;
let operator: EventClients;
/** The start of the test's week: a day from now, so that every run in it is planned ahead. */
let weekStart: number;
const ids: Record<string, string> = {};

beforeAll(async () => {
  server = await startTestServer();
  operator = connectClients(server.baseUrl, server.keys.operator);
  weekStart = server.clock.now() + DAY;
  const create = async (name: string, event: Parameters<EventClients["admin"]["createEvent"]>[0]["event"]) => {
    const { event: created } = await operator.admin.createEvent({ event });
    ids[name] = created?.id ?? "";
  };
  const transport = createConnectTransport({
    baseUrl: server.baseUrl,
    httpVersion: "1.1",
    interceptors: [bearer(server.keys.operator)],
  });
  await createClient(AudienceService, transport).createAudience({
    audience: { name: "window-one-player", expression: 'player.id == "window-player"' },
  });
  // Daily at the week's start hour, open-ended: seven runs in the week (computed beyond what is planned).
  await create("daily", {
    title: "Daily quest",
    startTime: timestampFromMs(weekStart + 2 * HOUR),
    recurrence: { rule: "FREQ=DAILY", runDuration: durationFromMs(HOUR) },
  });
  // One-off, inside the week, for one player only.
  await create("targeted", {
    title: "VIP weekend",
    startTime: timestampFromMs(weekStart + 3 * DAY),
    endTime: timestampFromMs(weekStart + 4 * DAY),
    audiences: ["window-one-player"],
  });
  // One-off, after the week: not listed.
  await create("later", {
    title: "Next month's cup",
    startTime: timestampFromMs(weekStart + 30 * DAY),
    endTime: timestampFromMs(weekStart + 31 * DAY),
  });
});
afterAll(() => server.close());

const week = () => ({ startTime: timestampFromMs(weekStart), endTime: timestampFromMs(weekStart + 7 * DAY) });

/** Every page of the week's runs with `pageSize`, as `eventId#runNumber@start` texts in the order given. */
async function walk(client: EventClients, pageSize: number): Promise<string[]> {
  const seen: EventRun[] = [];
  let pageToken = "";
  for (let pages = 0; pages < 100; pages++) {
    const page = await client.events.listEventRuns({ eventId: "", ...week(), pageSize, pageToken });
    seen.push(...page.runs);
    pageToken = page.nextPageToken;
    if (pageToken === "") break;
  }
  return seen.map((run) => `${run.eventId}#${run.runNumber}@${run.startTime ? timestampMs(run.startTime) : "?"}`);
}

describe("ListEventRuns of every event in a window", () => {
  it("lists the runs of every event overlapping the window, by start time, and none of the others", async () => {
    const runs = await walk(operator, 500);
    const daily = runs.filter((r) => r.startsWith(ids.daily ?? "-"));
    expect(daily).toHaveLength(7);
    expect(runs.filter((r) => r.startsWith(ids.targeted ?? "-"))).toHaveLength(1);
    expect(runs.some((r) => r.startsWith(ids.later ?? "-"))).toBe(false);
    const starts = runs.map((r) => Number(r.split("@")[1]));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
  });

  it("pages through the same runs, none twice and none missed, whatever the page size", async () => {
    const whole = await walk(operator, 500);
    expect(await walk(operator, 2)).toEqual(whole);
    expect(await walk(operator, 3)).toEqual(whole);
  });

  it("shows a player only the runs of the events meant for it", async () => {
    const other = connectClients(
      server.baseUrl,
      await mintPlayerToken(server.baseUrl, server.keys.game_server, "someone-else"),
    );
    const chosen = connectClients(
      server.baseUrl,
      await mintPlayerToken(server.baseUrl, server.keys.game_server, "window-player"),
    );
    expect((await walk(other, 500)).some((r) => r.startsWith(ids.targeted ?? "-"))).toBe(false);
    expect((await walk(chosen, 500)).some((r) => r.startsWith(ids.targeted ?? "-"))).toBe(true);
  });

  it("requires both bounds of the window", async () => {
    const { startTime, endTime } = week();
    expect(await codeOf(operator.events.listEventRuns({ eventId: "", startTime }))).toBe(Code.InvalidArgument);
    expect(await codeOf(operator.events.listEventRuns({ eventId: "", endTime }))).toBe(Code.InvalidArgument);
  });

  it("refuses a window longer than 45 days", async () => {
    const call = operator.events.listEventRuns({
      eventId: "",
      startTime: timestampFromMs(weekStart),
      endTime: timestampFromMs(weekStart + 46 * DAY),
    });
    expect(await codeOf(call)).toBe(Code.InvalidArgument);
  });

  it("refuses a window with more runs of one event than it can list, rather than list some of them", async () => {
    const start = weekStart + 20 * DAY;
    await operator.admin.createEvent({
      event: {
        title: "Every minute",
        startTime: timestampFromMs(start),
        recurrence: { rule: "FREQ=MINUTELY", runDuration: durationFromMs(30_000) },
      },
    });
    const call = operator.events.listEventRuns({
      eventId: "",
      startTime: timestampFromMs(start),
      endTime: timestampFromMs(start + 2 * DAY),
    });
    expect(await codeOf(call)).toBe(Code.FailedPrecondition);
  });

  it("refuses a page token of another window", async () => {
    const first = await operator.events.listEventRuns({ eventId: "", ...week(), pageSize: 1 });
    expect(first.nextPageToken).not.toBe("");
    const call = operator.events.listEventRuns({
      eventId: "",
      startTime: timestampFromMs(weekStart + HOUR),
      endTime: timestampFromMs(weekStart + 7 * DAY),
      pageToken: first.nextPageToken,
    });
    expect(await codeOf(call)).toBe(Code.InvalidArgument);
  });
});
