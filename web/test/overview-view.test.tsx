// @vitest-environment happy-dom
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { cleanup, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ApiKeyService } from "../../gen/liveops/v1/api_key_service_pb.js";
import { AuditEntrySchema, AuditService } from "../../gen/liveops/v1/audit_service_pb.js";
import {
  type Event,
  EventSchema,
  EventStatus,
  LeaderboardOrder,
  ScoreOperator,
} from "../../gen/liveops/v1/event_pb.js";
import { EventService } from "../../gen/liveops/v1/event_service_pb.js";
import { LeaderboardService } from "../../gen/liveops/v1/leaderboard_service_pb.js";
import { RewardService } from "../../gen/liveops/v1/reward_service_pb.js";
import { auditEntryInWords, formatSpan, OverviewView } from "../src/overview-view.js";
import { renderWithServer } from "./render-with-server.js";

afterEach(cleanup);

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The services the overview reads, over `events`; `calls` counts the calls by method name. */
function overviewServer(events: Event[], calls: Map<string, number> = new Map()) {
  const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);
  return (router: ConnectRouter) => {
    router.service(EventService, {
      listEvents(req) {
        count("ListEvents");
        const matching = events.filter((e) => req.statuses.includes(e.status));
        return {
          events: matching,
          totalSize: matching.length,
          statusCounts: [EventStatus.UPCOMING, EventStatus.ACTIVE, EventStatus.ENDED, EventStatus.BETWEEN_RUNS].map(
            (status) => ({ status, count: events.filter((e) => e.status === status).length }),
          ),
        };
      },
      listEventRuns(req) {
        const now = Date.now();
        return req.eventId === "daily"
          ? {
              runs: [
                {
                  eventId: "daily",
                  runNumber: 6n,
                  startTime: timestampFromMs(now - 3 * HOUR),
                  endTime: timestampFromMs(now - 2 * HOUR),
                },
                {
                  eventId: "daily",
                  runNumber: 7n,
                  startTime: timestampFromMs(now + 21 * HOUR),
                  endTime: timestampFromMs(now + 22 * HOUR),
                },
              ],
            }
          : { runs: [] };
      },
    });
    router.service(LeaderboardService, {
      listScores(req) {
        if (req.eventId !== "daily" || req.runNumber !== 6n) throw new ConnectError("no such run", Code.NotFound);
        return {
          runNumber: 6n,
          final: true,
          scores: [
            { playerId: "zoe", rank: 1n, score: 4200n },
            { playerId: "yan", rank: 2n, score: 3100n },
          ],
        };
      },
    });
    router.service(RewardService, {
      listRewardGrants(req) {
        expect([req.eventId, req.runNumber]).toEqual(["daily", 6n]);
        return {
          grants: [
            {
              eventId: "daily",
              runNumber: 6n,
              playerId: "zoe",
              rank: 1n,
              rewards: [{ id: "gems", name: "Gems", quantity: 1500n }],
            },
          ],
        };
      },
    });
    router.service(AuditService, {
      listAuditEntries() {
        count("ListAuditEntries");
        return { entries: [] };
      },
    });
    router.service(ApiKeyService, {
      listApiKeys() {
        return { apiKeys: [] };
      },
    });
  };
}

/** A daily event with a leaderboard between its runs 6 and 7. */
function dailyBetweenRuns(): Event {
  return create(EventSchema, {
    id: "daily",
    title: "Daily Dash",
    status: EventStatus.BETWEEN_RUNS,
    startTime: timestampFromMs(Date.now() - 6 * 24 * HOUR),
    nextRunStartTime: timestampFromMs(Date.now() + 21 * HOUR + 5 * MINUTE),
    recurrence: { rule: "FREQ=DAILY", runDuration: { seconds: 3600n } },
    leaderboard: { order: LeaderboardOrder.HIGHER_FIRST, scoreOperator: ScoreOperator.BEST },
  });
}

const region = (name: string) => screen.getByRole("region", { name });

describe("the overview", () => {
  it("says a span of time in days and hours, hours and minutes, or minutes", () => {
    expect(formatSpan(2 * HOUR + 10 * MINUTE)).toBe("2 h 10 min");
    expect(formatSpan(27 * HOUR)).toBe("1 d 3 h");
    expect(formatSpan(2 * HOUR)).toBe("2 h");
    expect(formatSpan(42 * MINUTE + 20_000)).toBe("42 min");
    expect(formatSpan(-5 * MINUTE)).toBe("5 min");
    expect(formatSpan(20_000)).toBe("less than a minute");
  });

  it("puts an audit entry in words with the names of keys and events rather than their ids", () => {
    const names = {
      keyName: (id: string) => ({ k1: "release bot" })[id],
      eventTitle: (id: string) => ({ "e-1": "Summer Cup" })[id],
    };
    const entry = (fields: object) => create(AuditEntrySchema, { actorKeyId: "k1", targetType: "event", ...fields });
    expect(
      auditEntryInWords(entry({ method: "/liveops.v1.EventAdminService/EndEvent", targetId: "e-1" }), names),
    ).toEqual({ actor: "release bot", action: "ended event", target: "“Summer Cup”", fields: [] });
    // A deleted event is named by the title its entry recorded.
    const deleted = entry({
      method: "/liveops.v1.EventAdminService/DeleteEvent",
      targetId: "e-2",
      changes: { title: { before: "Old Cup" } },
    });
    expect(auditEntryInWords(deleted, names).target).toBe("“Old Cup”");
    const updated = entry({
      actorKeyId: "cli",
      method: "/liveops.v1.EventAdminService/UpdateEvent",
      targetId: "e-1",
      changes: { end_time: { before: "2026-06-01T12:00:00Z", after: "2026-06-01T13:00:00Z" } },
    });
    const words = auditEntryInWords(updated, names);
    expect([words.actor, words.target, words.fields.length]).toEqual(["the keys command-line tool", "“Summer Cup”", 1]);
    expect(words.fields[0]).not.toContain("_");
  });

  it("shows an event between runs as starting soon, and its last run's winners with what they were granted", async () => {
    renderWithServer(<OverviewView canManage={false} isAdmin={false} />, overviewServer([dailyBetweenRuns()]));
    const soon = await waitFor(() => within(region("Starting in the next 24 hours")).getByRole("listitem"));
    expect(within(soon).getByRole("link", { name: "Daily Dash" }).getAttribute("href")).toBe("#/events/daily");
    expect(soon.textContent).toMatch(/Starts in 21 h 5 min/);
    const winners = await waitFor(() =>
      within(region("Recently ended")).getByRole("list", { name: "Winners of Daily Dash" }),
    );
    const entries = () =>
      within(winners)
        .getAllByRole("listitem")
        .map((li) => li.textContent);
    await waitFor(() => expect(entries()).toEqual(["zoe4,200won 1,500 × Gems", "2.yan3,100"]));
    expect(region("Recently ended").textContent).toMatch(/Daily Dashrun 6Ended 2 h ago/);
  });

  it("tells a manager where to create an event when nothing is live", async () => {
    renderWithServer(<OverviewView canManage isAdmin={false} />, overviewServer([]));
    const empty = await waitFor(() => within(region("Live now")).getByText(/^No live events\./));
    expect(within(empty).getByRole("link", { name: "Create an event" }).getAttribute("href")).toBe("#/events");
  });

  it("tells a viewer that nothing is live, without a link it could not use", async () => {
    renderWithServer(<OverviewView canManage={false} isAdmin={false} />, overviewServer([]));
    const empty = await waitFor(() => within(region("Live now")).getByText(/^No live events\./));
    expect(within(empty).queryAllByRole("link")).toEqual([]);
  });

  it("neither shows nor asks for the audit log unless the key is an admin's", async () => {
    const calls = new Map<string, number>();
    renderWithServer(<OverviewView canManage isAdmin={false} />, overviewServer([], calls));
    await waitFor(() => expect(calls.get("ListEvents")).toBe(3));
    expect(screen.queryByRole("region", { name: "Latest changes" })).toBeNull();
    expect(calls.get("ListAuditEntries")).toBeUndefined();
  });

  it("shows an admin the latest changes", async () => {
    const calls = new Map<string, number>();
    renderWithServer(<OverviewView canManage isAdmin />, overviewServer([], calls));
    await waitFor(() => within(region("Latest changes")).getByText("No changes recorded yet."));
    expect(calls.get("ListAuditEntries")).toBe(1);
  });
});
