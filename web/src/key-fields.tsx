import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ApiKey, type RateLimit, Role } from "../../gen/liveops/v1/api_key_pb.js";
import { Field } from "./components.js";
import { fieldErrorsOf } from "./errors.js";

/** Sustained requests per second a key's own limit may have, and the largest burst (src/keys/key-validation.ts). */
const RATE_PER_SECOND_MAX = 100_000;
const RATE_BURST_MAX = 1_000_000;

/** The roles a key can have, in the order the form offers them, with their names for people. */
export const ROLE_LABELS: Record<number, string> = {
  [Role.VIEWER]: "viewer",
  [Role.GAME_SERVER]: "game server",
  [Role.OPERATOR]: "operator",
  [Role.ADMIN]: "admin",
};

/** The viewer's time zone, as the browser names it (e.g. "Europe/Berlin"). */
export const viewerTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A key's expiry and rate limit as typed: strings, so that a half-typed number stays as it is. */
export interface LimitsDraft {
  expires: boolean;
  /** A `datetime-local` value, in the viewer's time zone. */
  expireAt: string;
  customLimit: boolean;
  perSecond: string;
  burst: string;
}

/** The inputs of a key's limits, by the name errors are kept under. */
export type LimitInput = "expireAt" | "perSecond" | "burst";

/** A `datetime-local` value (the viewer's time zone) for a time. */
export function localInputValue(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The draft of an existing key's limits (or of a new key's, without one). */
export function limitsDraftOf(key?: ApiKey): LimitsDraft {
  return {
    expires: key?.expireTime !== undefined,
    expireAt: key?.expireTime ? localInputValue(timestampDate(key.expireTime)) : "",
    customLimit: key?.rateLimit !== undefined,
    perSecond: key?.rateLimit ? String(key.rateLimit.requestsPerSecond) : "",
    burst: key?.rateLimit ? String(key.rateLimit.burst) : "",
  };
}

const whole = (text: string) => (/^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN);

/** What is wrong with a draft, in words, on the input at fault; empty when it can be sent. */
export function limitsProblems(draft: LimitsDraft, now = Date.now()): Map<LimitInput, string> {
  const problems = new Map<LimitInput, string>();
  if (draft.expires) {
    const at = new Date(draft.expireAt).getTime();
    if (draft.expireAt === "" || Number.isNaN(at)) problems.set("expireAt", "Choose the date and time it expires.");
    else if (at <= now) problems.set("expireAt", "Must be in the future.");
  }
  if (draft.customLimit) {
    const perSecond = whole(draft.perSecond);
    const burst = whole(draft.burst);
    if (!(perSecond >= 1 && perSecond <= RATE_PER_SECOND_MAX)) {
      problems.set("perSecond", `Enter a whole number from 1 to ${RATE_PER_SECOND_MAX.toLocaleString()}.`);
    } else if (!(burst >= perSecond && burst <= RATE_BURST_MAX)) {
      problems.set(
        "burst",
        `Enter a whole number from the requests per second (${perSecond.toLocaleString()}) to ${RATE_BURST_MAX.toLocaleString()}.`,
      );
    }
  }
  return problems;
}

/** The expiry a draft asks for; undefined for never. */
export function expireTimeOf(draft: LimitsDraft): Timestamp | undefined {
  return draft.expires ? timestampFromDate(new Date(draft.expireAt)) : undefined;
}

/** The rate limit a draft asks for; undefined for the role's default. */
export function rateLimitOf(draft: LimitsDraft): { requestsPerSecond: number; burst: number } | undefined {
  return draft.customLimit ? { requestsPerSecond: whole(draft.perSecond), burst: whole(draft.burst) } : undefined;
}

/** API field names that the server's messages may hold, and the words of the inputs they are. */
const FIELD_WORDS: [RegExp, string][] = [
  [/\brequests_per_second\b/g, "the requests per second"],
  [/\bexpire_time\b/g, "the expiry"],
  [/\bgrace_period\b/g, "the grace period"],
  [/\brate_limit\b/g, "the rate limit"],
];

/** A server's description of a field, in the words of the form: "Must be from the requests per second to …". */
export function inWords(description: string): string {
  let text = description;
  for (const [pattern, words] of FIELD_WORDS) text = text.replace(pattern, words);
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? "" : "."}`;
}

/**
 * The field violations of a failed CreateApiKey or UpdateApiKey, by the input that caused them (`prefix` is the
 * request's path to the key: "" or "api_key."); the rest under "other".
 */
export function keyErrorsOf(err: unknown, prefix: string): Map<string, string> {
  const inputs: Record<string, string> = {
    name: "name",
    role: "role",
    expire_time: "expireAt",
    rate_limit: "perSecond",
    "rate_limit.requests_per_second": "perSecond",
    "rate_limit.burst": "burst",
  };
  const errors = new Map<string, string>();
  for (const [field, description] of fieldErrorsOf(err, prefix)) {
    errors.set(inputs[field] ?? "other", inWords(description));
  }
  return errors;
}

/** Whether a call failed for its inputs (the form shows why, on them). */
export const refusedInputs = (err: unknown) => ConnectError.from(err).code === Code.InvalidArgument;

/** A rate limit in words: "20 req/s, burst 40", or the role's default. */
export function rateLimitText(limit: RateLimit | undefined): string {
  if (!limit) return "default for the role";
  return `${limit.requestsPerSecond.toLocaleString()} req/s, burst ${limit.burst.toLocaleString()}`;
}

/**
 * The inputs of a key's expiry (never, or a date and time in the viewer's zone, named) and rate limit (the role's
 * default, or requests per second and burst), each with its error under it. `idPrefix` keeps two forms' ids apart.
 */
export function LimitsFields({
  idPrefix,
  draft,
  onChange,
  errors,
}: {
  idPrefix: string;
  draft: LimitsDraft;
  onChange: (draft: LimitsDraft) => void;
  errors: Map<string, string>;
}) {
  const set = (change: Partial<LimitsDraft>) => onChange({ ...draft, ...change });
  return (
    <>
      <fieldset className="key-limits">
        <legend>Expiry</legend>
        <label className="inline">
          <input
            type="radio"
            name={`${idPrefix}-expiry`}
            checked={!draft.expires}
            onChange={() => set({ expires: false })}
          />
          Never expires
        </label>
        <label className="inline">
          <input
            type="radio"
            name={`${idPrefix}-expiry`}
            checked={draft.expires}
            onChange={() => set({ expires: true })}
          />
          Expires at a date and time
        </label>
        {draft.expires && (
          <Field
            id={`${idPrefix}-expire-at`}
            label={`Expires at (${viewerTimeZone()} time)`}
            error={errors.get("expireAt")}
          >
            <input
              id={`${idPrefix}-expire-at`}
              type="datetime-local"
              value={draft.expireAt}
              aria-invalid={errors.has("expireAt") || undefined}
              aria-describedby={errors.has("expireAt") ? `${idPrefix}-expire-at-error` : undefined}
              onChange={(e) => set({ expireAt: e.target.value })}
            />
          </Field>
        )}
      </fieldset>
      <fieldset className="key-limits">
        <legend>Rate limit</legend>
        <label className="inline">
          <input
            type="radio"
            name={`${idPrefix}-limit`}
            checked={!draft.customLimit}
            onChange={() => set({ customLimit: false })}
          />
          Default for the role
        </label>
        <label className="inline">
          <input
            type="radio"
            name={`${idPrefix}-limit`}
            checked={draft.customLimit}
            onChange={() => set({ customLimit: true })}
          />
          Its own limit
        </label>
        {draft.customLimit && (
          <div className="row">
            <NumberField
              id={`${idPrefix}-per-second`}
              label="Requests per second"
              value={draft.perSecond}
              error={errors.get("perSecond")}
              onChange={(perSecond) => set({ perSecond })}
            />
            <NumberField
              id={`${idPrefix}-burst`}
              label="Burst"
              hint="The most requests at once, at least the rate."
              value={draft.burst}
              error={errors.get("burst")}
              onChange={(burst) => set({ burst })}
            />
          </div>
        )}
      </fieldset>
    </>
  );
}

function NumberField({
  id,
  label,
  hint,
  value,
  error,
  onChange,
}: {
  id: string;
  label: string;
  hint?: string;
  value: string;
  error: string | undefined;
  onChange: (value: string) => void;
}) {
  return (
    <Field id={id} label={label} error={error} {...(hint ? { hint } : {})}>
      <input
        id={id}
        type="number"
        inputMode="numeric"
        min={1}
        step={1}
        value={value}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => onChange(e.target.value)}
      />
    </Field>
  );
}
