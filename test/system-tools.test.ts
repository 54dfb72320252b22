import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { commandRuns, skipWithoutTool } from "./support/system-tools.js";

// The rule every test that needs a system tool follows: skip with a message on a developer's machine, fail in CI,
// where a skip would let a broken setup pass unnoticed.
const missing = { name: "liveops-no-such-tool", present: false, install: "apt-get install liveops-no-such-tool" };
const present = { ...missing, present: true };

describe("a missing system tool", () => {
  let savedCi: string | undefined;
  beforeEach(() => {
    savedCi = process.env.CI;
  });
  afterEach(() => {
    if (savedCi === undefined) delete process.env.CI;
    else process.env.CI = savedCi;
    vi.restoreAllMocks();
  });

  it("fails the tests with CI=true, naming the tool and how to install it", () => {
    process.env.CI = "true";
    expect(() => skipWithoutTool(missing, "the example tests")).toThrow(
      "the example tests cannot run in CI: liveops-no-such-tool is missing (apt-get install liveops-no-such-tool",
    );
  });

  it("skips the tests outside CI, with a warning naming the tool and how to install it", () => {
    delete process.env.CI;
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    expect(skipWithoutTool(missing, "the example tests")).toBe(true);
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]?.[0]).toMatch(
      /^the example tests skipped: liveops-no-such-tool is missing \(apt-get install liveops-no-such-tool/,
    );
  });

  it("is not skipped when present, in CI or not, and says nothing", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    for (const ci of ["true", undefined]) {
      if (ci === undefined) delete process.env.CI;
      else process.env.CI = ci;
      expect(skipWithoutTool(present, "the example tests")).toBe(false);
    }
    expect(warn).not.toHaveBeenCalled();
  });
});

describe("probing for a system tool", () => {
  it("finds a command that runs and exits 0, and an absolute path that exists", () => {
    expect(commandRuns(process.execPath)).toBe(true);
    expect(commandRuns("node", ["--version"])).toBe(true);
  });

  it("does not find a command that is not installed, or one that exits non-zero", () => {
    expect(commandRuns("liveops-no-such-tool")).toBe(false);
    expect(commandRuns("/usr/bin/liveops-no-such-tool")).toBe(false);
    expect(commandRuns("node", ["-e", "process.exit(3)"])).toBe(false);
  });
});
