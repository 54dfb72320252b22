import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { RewardSchema } from "../gen/liveops/v1/event_pb.js";
import { validateEventFields } from "../src/events/event-validation.js";

// The limits of an event's fields, checked by the validation the handlers share (pure: no server).
describe("event field rules", () => {
  const valid = {
    title: "t",
    description: "",
    startTime: 0,
    endTime: 1,
    rewards: [],
    metadata: undefined,
    recurrence: undefined,
  };

  it("accepts the limits themselves", () => {
    const rewards = Array.from({ length: 100 }, (_, i) =>
      create(RewardSchema, { id: `r:${i}.x-y_z`, name: "n".repeat(100), quantity: 9_223_372_036_854_775_807n }),
    );
    expect(
      validateEventFields({ ...valid, title: "t".repeat(100), description: "d".repeat(1000), rewards }, "e"),
    ).toEqual([]);
  });

  it("names nested fields by index", () => {
    const rewards = [
      create(RewardSchema, { id: "ok", name: "ok", quantity: 1n }),
      create(RewardSchema, { id: "bad id" }),
    ];
    const fields = validateEventFields({ ...valid, rewards }, "event").map((v) => v.field);
    expect(fields).toEqual(["event.rewards[1].id", "event.rewards[1].name", "event.rewards[1].quantity"]);
  });
});
