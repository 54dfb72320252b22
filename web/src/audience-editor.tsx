import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type FormEvent, type ReactNode, useEffect, useState } from "react";
import type { Audience, AudienceSchema, PreviewAudienceResponse } from "../../gen/liveops/v1/audience_service_pb.js";
import { ErrorNotice, Field } from "./components.js";
import { describeError, fieldErrorsOf, violationsAt } from "./errors.js";

/** The audience an editor submits or previews. */
export type AudienceInit = Exclude<MessageInitShape<typeof AudienceSchema>, Audience>;

/** Counts the players an audience would hold (PreviewAudience); aborted when the draft changes again. */
export type PreviewAudience = (audience: AudienceInit, signal: AbortSignal) => Promise<PreviewAudienceResponse>;

/** How long typing must pause before the draft is previewed. */
export const PREVIEW_DELAY_MS = 300;

/** Player ids typed one per line or separated by commas (ids hold neither spaces nor commas). */
export function playerIdsOf(text: string): string[] {
  return text.split(/[\s,]+/).filter((id) => id !== "");
}

interface Draft {
  name: string;
  description: string;
  expression: string;
  include: string;
  exclude: string;
}

function draftOf(audience: Audience | undefined): Draft {
  return {
    name: audience?.name ?? "",
    description: audience?.description ?? "",
    expression: audience?.expression ?? "",
    include: audience?.includePlayerIds.join("\n") ?? "",
    exclude: audience?.excludePlayerIds.join("\n") ?? "",
  };
}

function audienceOf(draft: Draft): AudienceInit {
  return {
    name: draft.name.trim(),
    description: draft.description,
    expression: draft.expression,
    includePlayerIds: playerIdsOf(draft.include),
    excludePlayerIds: playerIdsOf(draft.exclude),
  };
}

/** The inputs of the editor by the field paths that the server's violations name (without `audience.`). */
const FIELDS = ["name", "description", "expression", "include_player_ids", "exclude_player_ids"] as const;
type FieldPath = (typeof FIELDS)[number];

const shownByField = (path: string) => FIELDS.some((f) => path === f || path.startsWith(`${f}[`));

interface PreviewState {
  /** A preview of the current draft is on its way. */
  checking: boolean;
  result?: PreviewAudienceResponse;
  error?: unknown;
}

/** Previews the draft's expression and lists once typing pauses; the latest answer wins. */
function useLivePreview(draft: Draft, preview: PreviewAudience): PreviewState {
  const [state, setState] = useState<PreviewState>({ checking: true });
  const { expression, include, exclude } = draft;
  useEffect(() => {
    const abort = new AbortController();
    const timer = setTimeout(() => {
      setState((s) => ({ ...s, checking: true }));
      const audience = { expression, includePlayerIds: playerIdsOf(include), excludePlayerIds: playerIdsOf(exclude) };
      preview(audience, abort.signal).then(
        (result) => {
          if (!abort.signal.aborted) setState({ checking: false, result });
        },
        (error: unknown) => {
          if (!abort.signal.aborted) setState({ checking: false, error });
        },
      );
    }, PREVIEW_DELAY_MS);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [expression, include, exclude, preview]);
  return state;
}

const count = (n: bigint) => n.toLocaleString();

/** The live count of a preview: "N of M players match", and the players whose evaluation failed. */
function PreviewSummary({ state }: { state: PreviewState }) {
  const { result, error } = state;
  let body: ReactNode = <span className="muted">Counting players…</span>;
  if (error && fieldErrorsOf(error, "audience.").size > 0) {
    body = <span className="muted">No count until the audience is valid.</span>;
  } else if (error) {
    body = <span className="error">The count failed: {describeError(error)}</span>;
  } else if (result) {
    body = (
      <>
        <strong data-testid="preview-count">
          {count(result.matchingPlayers)} of {count(result.scannedPlayers)}{" "}
          {result.scannedPlayers === 1n ? "player matches" : "players match"}
        </strong>
        {!result.complete && <span className="muted"> (only the first players by id were scanned)</span>}
        {result.sample.length > 0 && <span className="muted"> — e.g. {result.sample.map((p) => p.id).join(", ")}</span>}
        {result.failedPlayers > 0n && (
          <span className="preview-failures" data-testid="preview-failures">
            {count(result.failedPlayers)} {result.failedPlayers === 1n ? "player" : "players"} could not be evaluated
            (counted as not matching): {result.firstFailure}
          </span>
        )}
      </>
    );
  }
  return (
    <p className="preview" role="status" aria-live="polite" aria-busy={state.checking}>
      {body}
    </p>
  );
}

/**
 * Creates or edits an audience. Its expression and lists are previewed as they are typed: the live count, and the
 * expression's compile error (with its line:column) under the expression. The server's violations on save are shown
 * by the inputs they name.
 */
export function AudienceEditor({
  initial,
  onSubmit,
  onCancel,
  preview,
}: {
  initial?: Audience;
  /** Creates (no `initial`) or updates the audience. */
  onSubmit: (audience: AudienceInit) => Promise<unknown>;
  onCancel: () => void;
  /** Must keep its identity between renders: every new function previews again. */
  preview: PreviewAudience;
}) {
  const [draft, setDraft] = useState(() => draftOf(initial));
  const [errors, setErrors] = useState(new Map<string, string>());
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const previewed = useLivePreview(draft, preview);
  const previewErrors = fieldErrorsOf(previewed.error, "audience.");
  const set = (key: keyof Draft, field: FieldPath, value: string) => {
    setDraft((d) => ({ ...d, [key]: value }));
    // A violation stays by its input until the input changes: the preview then tells about the new text.
    setErrors((e) => new Map([...e].filter(([path]) => path !== field && !path.startsWith(`${field}[`))));
  };
  const errorOf = (field: FieldPath, ids?: string[]) =>
    violationsAt(previewErrors, field, ids) ?? violationsAt(errors, field, ids);
  const includeIds = playerIdsOf(draft.include);
  const excludeIds = playerIdsOf(draft.exclude);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors(new Map());
    setFailure(undefined);
    try {
      await onSubmit(audienceOf(draft));
    } catch (err) {
      const fieldErrors = fieldErrorsOf(err, "audience.");
      if (ConnectError.from(err).code === Code.AlreadyExists) {
        fieldErrors.set("name", "An audience with this name already exists.");
      }
      setErrors(fieldErrors);
      if (fieldErrors.size === 0 || [...fieldErrors.keys()].some((f) => !shownByField(f))) setFailure(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} aria-label={initial ? "Edit audience" : "Create audience"} noValidate>
      <h2>{initial ? `Edit audience “${initial.name}”` : "New audience"}</h2>
      <ErrorNotice error={failure} />
      <Field
        id="audience-name"
        label="Name"
        error={errorOf("name")}
        hint={
          initial
            ? "The name is the audience's id: it cannot change."
            : "1 to 64 lowercase letters, digits, '-' or '_', starting with a letter. It cannot change later."
        }
      >
        <input
          id="audience-name"
          value={draft.name}
          readOnly={initial !== undefined}
          onChange={(e) => set("name", "name", e.target.value)}
          aria-invalid={!!errorOf("name")}
        />
      </Field>
      <Field id="audience-description" label="Description" error={errorOf("description")}>
        <input
          id="audience-description"
          value={draft.description}
          onChange={(e) => set("description", "description", e.target.value)}
          aria-invalid={!!errorOf("description")}
        />
      </Field>
      <Field
        id="audience-expression"
        label="Expression (CEL)"
        error={errorOf("expression")}
        hint={
          'Over player.id, player.properties, player.create_time and now, e.g. player.properties.country == "FR" && versionAtLeast(player.properties.app_version, "2.1"). Empty: only the players listed below.'
        }
      >
        <textarea
          id="audience-expression"
          className="code-input"
          rows={4}
          spellCheck={false}
          value={draft.expression}
          onChange={(e) => set("expression", "expression", e.target.value)}
          aria-invalid={!!errorOf("expression")}
        />
      </Field>
      <PreviewSummary state={previewed} />
      <div className="row">
        <Field
          id="audience-include"
          label="Always include (player ids)"
          error={errorOf("include_player_ids", includeIds)}
          hint="One per line or separated by commas."
        >
          <textarea
            id="audience-include"
            rows={4}
            value={draft.include}
            onChange={(e) => set("include", "include_player_ids", e.target.value)}
            aria-invalid={!!errorOf("include_player_ids", includeIds)}
          />
        </Field>
        <Field
          id="audience-exclude"
          label="Never include (player ids)"
          error={errorOf("exclude_player_ids", excludeIds)}
          hint="One per line or separated by commas."
        >
          <textarea
            id="audience-exclude"
            rows={4}
            value={draft.exclude}
            onChange={(e) => set("exclude", "exclude_player_ids", e.target.value)}
            aria-invalid={!!errorOf("exclude_player_ids", excludeIds)}
          />
        </Field>
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Saving…" : initial ? "Save changes" : "Create audience"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
