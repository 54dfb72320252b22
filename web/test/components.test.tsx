// @vitest-environment happy-dom
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { EventStatus } from "../../gen/liveops/v1/event_pb.js";
import { StatusBadge, Time } from "../src/components.js";

afterEach(cleanup);

describe("shared components", () => {
  it("show a time in the viewer's time zone, with UTC on hover", () => {
    const date = new Date(Date.UTC(2026, 5, 6, 18, 30));
    render(<Time value={timestampFromDate(date)} />);
    const time = screen.getByText(date.toLocaleString());
    expect(time.getAttribute("title")).toBe("2026-06-06 18:30:00 UTC");
    expect(time.getAttribute("datetime")).toBe("2026-06-06T18:30:00.000Z");
  });

  it("name every status with a badge", () => {
    render(
      <>
        <StatusBadge status={EventStatus.UPCOMING} />
        <StatusBadge status={EventStatus.ACTIVE} />
        <StatusBadge status={EventStatus.BETWEEN_RUNS} />
        <StatusBadge status={EventStatus.ENDED} />
      </>,
    );
    for (const label of ["upcoming", "live", "between runs", "ended"]) expect(screen.getByText(label)).toBeTruthy();
  });
});
