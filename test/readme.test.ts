import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { methodRoles } from "../src/auth/roles.js";
import { configSettings } from "../src/config.js";

const readme = readFileSync("README.md", "utf8");
/** The cells of every Markdown table row. */
const rows = readme
  .split("\n")
  .filter((line) => line.startsWith("|"))
  .map((line) => line.split("|").map((cell) => cell.trim()));

describe("README", () => {
  it("documents every configuration variable with its default", () => {
    for (const setting of configSettings) {
      const row = rows.find((cells) => cells[1] === `\`${setting.env}\``);
      expect(row, `README has no row for ${setting.env}`).toBeDefined();
      if (setting.default) expect(row?.[2]).toContain(setting.default);
      expect(row?.[3]).toBe(setting.description);
    }
  });

  it("names every method of the permission table", () => {
    for (const path of methodRoles.keys()) {
      const name = path.split("/").pop() ?? path;
      expect(readme).toContain(name);
    }
  });
});
