import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { methodRoles, roles } from "../src/auth/roles.js";
import { configSettings } from "../src/config.js";
import { apiTableProblems, roleTableProblems } from "./support/readme-tables.js";

const readme = readFileSync("README.md", "utf8");
/** The cells of every Markdown table row. */
const rows = readme
  .split("\n")
  .filter((line) => line.startsWith("|"))
  .map((line) => line.split("|").map((cell) => cell.trim()));

/** The README with `from` replaced by `to`; throws when `from` is not in it, so that no check runs on the original. */
function altered(from: string, to: string): string {
  if (!readme.includes(from)) throw new Error(`the README no longer contains ${JSON.stringify(from)}`);
  return readme.replace(from, to);
}

/** The README without its line that starts with `start`. */
function withoutLine(start: string): string {
  const line = readme.split("\n").find((l) => l.startsWith(start));
  if (line === undefined) throw new Error(`the README has no line starting ${JSON.stringify(start)}`);
  return altered(`${line}\n`, "");
}

describe("README", () => {
  it("documents every configuration variable with its default", () => {
    for (const setting of configSettings) {
      const row = rows.find((cells) => cells[1] === `\`${setting.env}\``);
      expect(row, `README has no row for ${setting.env}`).toBeDefined();
      if (setting.default) expect(row?.[2]).toContain(setting.default);
      expect(row?.[3]).toBe(setting.description);
    }
  });

  it("has a row in the API method table for every method the server serves, and none for another", () => {
    expect(apiTableProblems(readme, methodRoles)).toEqual([]);
  });

  it("says in the role table exactly which methods each role may call, and which need no key", () => {
    expect(roleTableProblems(readme, methodRoles, roles)).toEqual([]);
  });
});

// The checks above on altered copies of the README: each must find what was broken.
describe("the README's table checks", () => {
  it("refuse a method table without a method's row, though the method's name is elsewhere in the README", () => {
    const text = withoutLine("| `grpc.health.v1.Health.Check`");
    expect(text).toContain("Check");
    expect(apiTableProblems(text, methodRoles)).toEqual([
      "the API table has no row for /grpc.health.v1.Health/Check",
      "the API table has no row for /grpc.health.v1.Health/Watch",
    ]);
  });

  it("refuse a method table row that names a method the server does not serve", () => {
    const text = altered("| `EventService.GetEvent` ", "| `EventService.FetchEvent` ");
    expect(apiTableProblems(text, methodRoles)).toEqual([
      "the API table's row EventService.FetchEvent names /liveops.v1.EventService/FetchEvent, which is not served",
      "the API table has no row for /liveops.v1.EventService/GetEvent",
    ]);
    const version = altered("`, and `v1alpha`", "`, and `v2`");
    expect(apiTableProblems(version, methodRoles)).toEqual([
      "the API table's row grpc.reflection.v1.ServerReflection.ServerReflectionInfo names /grpc.reflection.v2.ServerReflection/ServerReflectionInfo, which is not served",
      "the API table has no row for /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]);
  });

  it("refuse a method listed in a row of its own and in a row of several", () => {
    const text = altered("`GetAudience`, `ListAudiences`", "`GetAudience`, `PreviewAudience`, `ListAudiences`");
    expect(apiTableProblems(text, methodRoles)).toEqual([
      "the API table has two rows for /liveops.v1.AudienceService/PreviewAudience",
    ]);
  });

  it("refuse a role row that names a method the role may not call, or leaves out one it may", () => {
    const more = altered(
      "`SessionService.GetSession`, the reads",
      "`SessionService.GetSession`, `EventAdminService`, the reads",
    );
    const problems = roleTableProblems(more, methodRoles, roles);
    expect(problems).toContain(
      "the role table's `viewer` row names /liveops.v1.EventAdminService/CreateEvent, which it may not call",
    );
    // game_server inherits what viewer may: the same mistake shows there too.
    expect(problems).toContain(
      "the role table's `game_server` row names /liveops.v1.EventAdminService/DeleteEvent, which it may not call",
    );
    const fewer = altered("`GetPlayerScore`, `WatchLeaderboard`)", "`GetPlayerScore`)");
    expect(roleTableProblems(fewer, methodRoles, roles)).toEqual([
      "the role table's `viewer` row leaves out /liveops.v1.LeaderboardService/WatchLeaderboard",
      "the role table's `game_server` row leaves out /liveops.v1.LeaderboardService/WatchLeaderboard",
      "the role table's `operator` row leaves out /liveops.v1.LeaderboardService/WatchLeaderboard",
    ]);
  });

  it("read a service without a list of methods as the whole service", () => {
    const text = altered("`RewardService` for its own grants", "`RewardService` (`ClaimReward`) for its own grants");
    expect(roleTableProblems(text, methodRoles, roles)).toEqual([
      "the role table's `player` row leaves out /liveops.v1.RewardService/ListRewardGrants",
    ]);
  });

  it("refuse a role table without a role's row, or with a method that does not exist", () => {
    expect(roleTableProblems(withoutLine("| `player` "), methodRoles, roles)).toEqual([
      "the role table has no row for `player`",
    ]);
    const text = altered(
      "`CounterService` (`IncrementCounter`)",
      "`CounterService` (`IncrementCounter`, `ResetCounter`)",
    );
    expect(roleTableProblems(text, methodRoles, roles)).toEqual([
      "the role table's `game_server` row: `ResetCounter` is not a method the server serves",
    ]);
  });

  it("refuse public methods missing from the row of callers without a key", () => {
    const text = altered("`grpc.health.v1.Health`, server reflection", "server reflection");
    expect(roleTableProblems(text, methodRoles, roles)).toEqual([
      "the role table's (no key) row leaves out /grpc.health.v1.Health/Check",
      "the role table's (no key) row leaves out /grpc.health.v1.Health/Watch",
    ]);
  });
});
