import { systemClock } from "../../src/clock.js";
import type { TestClock } from "./test-clock.js";

const notMovable = () => {
  throw new Error("this server runs on the machine's clock");
};

/**
 * The machine's clock in the shape startTestServer takes, for a server that clients reach in real time: tools that
 * compute times with `now` (curl and jq), or data loaded relative to the real now (the demo).
 */
export const realClock: TestClock = {
  ...systemClock,
  set: notMovable,
  advance: notMovable,
  pendingTimers: () => 0,
  hasDueTimers: () => false,
};
