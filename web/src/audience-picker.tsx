import type { Audience } from "../../gen/liveops/v1/audience_service_pb.js";
import { ErrorNotice } from "./components.js";

/** The audiences an event may name, as ListAudiences gave them. */
export interface AudienceChoices {
  audiences: readonly Audience[];
  loading?: boolean;
  error?: unknown;
}

/**
 * A checkbox list of audiences. Names already chosen stay listed (and can be unticked) even when the list of
 * choices lacks them.
 */
export function AudiencePicker({
  id,
  legend,
  hint,
  choices,
  selected,
  onChange,
  error,
}: {
  id: string;
  legend: string;
  hint?: string;
  choices: AudienceChoices | undefined;
  selected: readonly string[];
  onChange: (names: string[]) => void;
  error?: string | undefined;
}) {
  const known = new Map((choices?.audiences ?? []).map((a) => [a.name, a]));
  const names = [...known.keys(), ...selected.filter((name) => !known.has(name))];
  const toggle = (name: string, on: boolean) =>
    onChange(on ? [...selected, name] : selected.filter((chosen) => chosen !== name));
  return (
    <fieldset
      className={`audience-picker${error ? " invalid" : ""}`}
      aria-describedby={error ? `${id}-error` : undefined}
    >
      <legend>{legend}</legend>
      {hint && <small className="muted">{hint}</small>}
      {choices?.loading && <p className="muted">Loading audiences…</p>}
      <ErrorNotice error={choices?.error} />
      {names.length === 0 && !choices?.loading && <p className="muted">No audiences yet (see Audiences).</p>}
      <ul className="checkbox-list">
        {names.map((name) => {
          const audience = known.get(name);
          return (
            <li key={name}>
              <label className="inline" title={audience?.expression || undefined}>
                <input
                  type="checkbox"
                  id={`${id}-${name}`}
                  checked={selected.includes(name)}
                  onChange={(e) => toggle(name, e.target.checked)}
                />
                {name}
              </label>
              {audience?.description && <small className="muted">{audience.description}</small>}
              {!audience && choices && !choices.loading && (
                <small className="muted">not in the list of audiences</small>
              )}
            </li>
          );
        })}
      </ul>
      {error && (
        <small className="field-error" id={`${id}-error`} role="alert">
          {error}
        </small>
      )}
    </fieldset>
  );
}
