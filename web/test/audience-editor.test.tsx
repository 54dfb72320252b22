// @vitest-environment happy-dom

import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AudienceSchema, PreviewAudienceResponseSchema } from "../../gen/liveops/v1/audience_service_pb.js";
import { AudienceEditor, type AudienceInit, PREVIEW_DELAY_MS } from "../src/audience-editor.js";

afterEach(cleanup);

/** INVALID_ARGUMENT as the server sends it: a BadRequest naming each field. */
function invalid(violations: [string, string][]) {
  return new ConnectError("invalid", Code.InvalidArgument, undefined, [
    {
      desc: BadRequestSchema,
      value: create(BadRequestSchema, {
        fieldViolations: violations.map(([field, description]) => ({ field, description })),
      }),
    },
  ]);
}

/** The error shown in the field of the input labelled `label`. */
function fieldError(label: string) {
  const field = screen.getByLabelText(label).closest(".field") as HTMLElement;
  return within(field).queryByRole("alert")?.textContent;
}

const counted = (init: MessageInitShape<typeof PreviewAudienceResponseSchema>) =>
  create(PreviewAudienceResponseSchema, { complete: true, ...init });

/** A preview that refuses expressions ending in an operator, and counts 2 of 5 players otherwise. */
function fakePreview() {
  return vi.fn(async (audience: AudienceInit) =>
    /[=&|]\s*$/.test(audience.expression ?? "")
      ? Promise.reject(invalid([["audience.expression", "1:29: Unexpected token: EOF"]]))
      : counted({ matchingPlayers: 2n, scannedPlayers: 5n }),
  );
}

const type = (label: string, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });

describe("the audience editor", () => {
  it("shows the expression's compile error, with its position, under the expression as it is typed", async () => {
    const preview = fakePreview();
    render(<AudienceEditor preview={preview} onSubmit={vi.fn()} onCancel={() => {}} />);
    type("Expression (CEL)", "player.properties.country ==");
    await waitFor(() => expect(fieldError("Expression (CEL)")).toBe("1:29: Unexpected token: EOF"));
    expect(screen.getByLabelText("Expression (CEL)").getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByRole("status").textContent).toBe("No count until the audience is valid.");
    // The error is by its input only: no general error above the form, none by the other inputs.
    expect(screen.getAllByRole("alert")).toHaveLength(1);
    expect(fieldError("Name")).toBeUndefined();
  });

  it("replaces the error with the live count once the expression compiles", async () => {
    const preview = fakePreview();
    render(<AudienceEditor preview={preview} onSubmit={vi.fn()} onCancel={() => {}} />);
    type("Expression (CEL)", "player.properties.level >=");
    await waitFor(() => expect(fieldError("Expression (CEL)")).toContain("Unexpected token"));
    type("Expression (CEL)", "player.properties.level >= 10.0");
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("2 of 5 players match"));
    expect(fieldError("Expression (CEL)")).toBeUndefined();
  });

  it("previews once typing pauses, with the lists as they were typed", async () => {
    const preview = fakePreview();
    render(<AudienceEditor preview={preview} onSubmit={vi.fn()} onCancel={() => {}} />);
    type("Expression (CEL)", "player.id");
    type("Expression (CEL)", 'player.id == "a"');
    type("Always include (player ids)", "p-1\np-2, p-3");
    type("Never include (player ids)", "p-9");
    await waitFor(() => expect(preview).toHaveBeenCalled());
    await new Promise((resolve) => setTimeout(resolve, PREVIEW_DELAY_MS * 2));
    expect(preview).toHaveBeenCalledTimes(1);
    expect(preview.mock.calls[0]?.[0]).toEqual({
      expression: 'player.id == "a"',
      includePlayerIds: ["p-1", "p-2", "p-3"],
      excludePlayerIds: ["p-9"],
    });
  });

  it("tells how many players could not be evaluated, and why the first failed", async () => {
    const preview = vi.fn(async () =>
      counted({ matchingPlayers: 1n, scannedPlayers: 3n, failedPlayers: 2n, firstFailure: "No such key: level" }),
    );
    render(<AudienceEditor preview={preview} onSubmit={vi.fn()} onCancel={() => {}} />);
    type("Expression (CEL)", "player.properties.level > 3.0");
    const failures = await screen.findByTestId("preview-failures");
    expect(failures.textContent).toBe("2 players could not be evaluated (counted as not matching): No such key: level");
    expect(screen.getByTestId("preview-count").textContent).toBe("1 of 3 players match");
  });

  it("shows the server's violations on save by the inputs they name, a listed id by its value", async () => {
    const onSubmit = vi.fn().mockRejectedValue(
      invalid([
        ["audience.name", "must start with a lowercase letter"],
        ["audience.include_player_ids[1]", "is not a valid player id"],
      ]),
    );
    render(<AudienceEditor preview={fakePreview()} onSubmit={onSubmit} onCancel={() => {}} />);
    type("Name", "9-lives");
    type("Always include (player ids)", "ok-1, bad/id");
    fireEvent.click(screen.getByRole("button", { name: "Create audience" }));
    await waitFor(() => expect(fieldError("Name")).toBe("must start with a lowercase letter"));
    expect(fieldError("Always include (player ids)")).toBe("“bad/id”: is not a valid player id");
    expect(fieldError("Never include (player ids)")).toBeUndefined();
    expect(screen.queryByText("invalid")).toBeNull();
    expect(onSubmit.mock.calls[0]?.[0]).toMatchObject({ name: "9-lives", includePlayerIds: ["ok-1", "bad/id"] });
    // Editing the input takes its error away.
    type("Name", "nine-lives");
    expect(fieldError("Name")).toBeUndefined();
  });

  it("says under the name when an audience of that name exists", async () => {
    const onSubmit = vi.fn().mockRejectedValue(new ConnectError("audience vip already exists", Code.AlreadyExists));
    render(<AudienceEditor preview={fakePreview()} onSubmit={onSubmit} onCancel={() => {}} />);
    type("Name", "vip");
    fireEvent.click(screen.getByRole("button", { name: "Create audience" }));
    await waitFor(() => expect(fieldError("Name")).toBe("An audience with this name already exists."));
  });

  it("shows a failure no input explains above the form", async () => {
    const onSubmit = vi
      .fn()
      .mockRejectedValue(new ConnectError("audience vip has changed since the given etag was read", Code.Aborted));
    const initial = create(AudienceSchema, { name: "vip", expression: "true", etag: "e1" });
    render(<AudienceEditor initial={initial} preview={fakePreview()} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toBe("audience vip has changed since the given etag was read");
    expect(alert.closest(".field")).toBeNull();
  });

  it("edits an audience without renaming it, its lists one id per line", async () => {
    const onSubmit = vi.fn().mockResolvedValue(undefined);
    const initial = create(AudienceSchema, {
      name: "vip",
      description: "Big spenders",
      expression: "player.properties.spent > 100.0",
      includePlayerIds: ["p-1", "p-2"],
      etag: "e1",
    });
    const preview = fakePreview();
    render(<AudienceEditor initial={initial} preview={preview} onSubmit={onSubmit} onCancel={() => {}} />);
    expect((screen.getByLabelText("Name") as HTMLInputElement).readOnly).toBe(true);
    expect((screen.getByLabelText("Always include (player ids)") as HTMLTextAreaElement).value).toBe("p-1\np-2");
    // An existing audience is counted as soon as it opens.
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("2 of 5 players match"));
    type("Never include (player ids)", "p-2");
    fireEvent.click(screen.getByRole("button", { name: "Save changes" }));
    await waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit.mock.calls[0]?.[0]).toEqual({
      name: "vip",
      description: "Big spenders",
      expression: "player.properties.spent > 100.0",
      includePlayerIds: ["p-1", "p-2"],
      excludePlayerIds: ["p-2"],
    });
  });
});
