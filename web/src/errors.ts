import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";

/** A sentence for people about a failed call. */
export function describeError(err: unknown): string {
  const e = ConnectError.from(err);
  switch (e.code) {
    case Code.PermissionDenied:
      return `Your key's role may not do this (${e.rawMessage}).`;
    case Code.Unauthenticated:
      return `The key was not accepted: ${e.rawMessage}. Sign in again.`;
    case Code.Unavailable:
      return "The server cannot be reached. Check your connection and try again.";
    default:
      return e.rawMessage;
  }
}

/** The field violations of an INVALID_ARGUMENT, by field path without the `event.` prefix. */
export function fieldErrorsOf(err: unknown, prefix = "event."): Map<string, string> {
  const errors = new Map<string, string>();
  const e = ConnectError.from(err);
  if (e.code !== Code.InvalidArgument) return errors;
  for (const detail of e.findDetails(BadRequestSchema)) {
    for (const v of detail.fieldViolations) {
      const field = v.field.startsWith(prefix) ? v.field.slice(prefix.length) : v.field;
      errors.set(field, errors.has(field) ? `${errors.get(field)}; ${v.description}` : v.description);
    }
  }
  return errors;
}

/**
 * The violations of one input, from fieldErrorsOf: those of `field` itself and of its items (`field[2]`), an item's
 * told by its value in `items` (the list that was sent), e.g. `“vip”: no such audience`.
 */
export function violationsAt(errors: Map<string, string>, field: string, items: readonly string[] = []) {
  const texts: string[] = [];
  for (const [path, description] of errors) {
    if (path === field) texts.push(description);
    else if (path.startsWith(`${field}[`)) {
      const item = items[Number(/^\[(\d+)\]/.exec(path.slice(field.length))?.[1])];
      texts.push(item !== undefined ? `“${item}”: ${description}` : `${path}: ${description}`);
    }
  }
  return texts.length > 0 ? texts.join("; ") : undefined;
}

/**
 * The retry policy of a query whose request the person typed: once, as for every query, unless the server refused
 * the request itself (asking again would only delay showing why).
 */
export function retryUnlessRefused(failures: number, err: unknown): boolean {
  const refused = [Code.InvalidArgument, Code.NotFound, Code.PermissionDenied, Code.FailedPrecondition];
  return failures < 1 && !refused.includes(ConnectError.from(err).code);
}

/** The labels of an event's fields, as the event form shows them, by field path (without `event.`). */
const FIELD_LABELS: Record<string, string> = {
  event: "The event",
  id: "Event id",
  etag: "Version",
  update_mask: "Changed fields",
  title: "Title",
  description: "Description",
  start_time: "Start",
  end_time: "End",
  metadata: "Metadata",
  recurrence: "Schedule",
  "recurrence.rule": "Repeat rule",
  "recurrence.run_duration": "Run duration",
  "recurrence.time_zone": "Time zone",
  rewards: "Rewards",
  leaderboard: "Leaderboard",
  "leaderboard.order": "Ranking",
  "leaderboard.score_operator": "Score operator",
  "leaderboard.join_required": "Players must join first",
  "leaderboard.max_participants": "Max participants",
  "leaderboard.max_submissions": "Max submissions",
  "leaderboard.prize_tiers": "Prize tiers",
  audiences: "For audiences",
  excluded_audiences: "Excluded audiences",
};

const REWARD_PARTS: Record<string, string> = { id: "id", name: "name", quantity: "quantity" };

/** A reward's label: `Reward 2 quantity`, or within a tier `Tier 1 reward 2 quantity`. */
function rewardLabel(prefix: string, index: string, part: string | undefined): string {
  const reward = `${prefix}${Number(index) + 1}`;
  return part === undefined ? reward : `${reward} ${REWARD_PARTS[part] ?? words(part)}`;
}

/** snake_case as words: `max_submissions` → `max submissions`. */
function words(name: string): string {
  return name.replace(/_/g, " ");
}

/**
 * The label of an event field path (as the server names it in a violation, without `event.`), in the form's words:
 * `leaderboard.prize_tiers[0].rank_to` → `Tier 1: to rank`, `rewards[1].quantity` → `Reward 2 quantity`.
 */
export function eventFieldLabel(path: string): string {
  const known = FIELD_LABELS[path];
  if (known) return known;
  let m = /^rewards\[(\d+)\](?:\.(\w+))?$/.exec(path);
  if (m) return rewardLabel("Reward ", m[1] as string, m[2]);
  m = /^leaderboard\.prize_tiers\[(\d+)\](?:\.(\w+))?(?:\[(\d+)\](?:\.(\w+))?)?$/.exec(path);
  if (m) {
    const tier = `Tier ${Number(m[1]) + 1}`;
    if (m[2] === undefined) return tier;
    if (m[2] === "rank_from") return `${tier}: from rank`;
    if (m[2] === "rank_to") return `${tier}: to rank`;
    if (m[2] === "rewards" && m[3] !== undefined) return rewardLabel(`${tier} reward `, m[3], m[4]);
    return `${tier} ${words(m[2])}`;
  }
  m = /^(audiences|excluded_audiences)\[(\d+)\]$/.exec(path);
  if (m) return `${FIELD_LABELS[m[1] as string]}, item ${Number(m[2]) + 1}`;
  m = /^metadata\.(.+)$/.exec(path);
  if (m) return `Metadata “${m[1]}”`;
  const text = words(path.replace(/\[(\d+)\]/g, (_, n: string) => ` ${Number(n) + 1}`).replace(/\./g, " "));
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** A duration for people: "2 hours", "1 hour 30 minutes", "3 days". */
export function durationWords(seconds: number): string {
  const parts: string[] = [];
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3_600);
  const minutes = Math.floor((seconds % 3_600) / 60);
  const rest = seconds % 60;
  if (days) parts.push(plural(days, "day"));
  if (hours) parts.push(plural(hours, "hour"));
  if (minutes) parts.push(plural(minutes, "minute"));
  if (rest || parts.length === 0) parts.push(plural(rest, "second"));
  return parts.join(" ");
}

/** API names in the server's messages, and their words. */
const MESSAGE_WORDS: [RegExp, string | ((...groups: string[]) => string)][] = [
  // "is required: LEADERBOARD_ORDER_HIGHER_FIRST or …": the form offers the values; the names say nothing more.
  [/: (LEADERBOARD_ORDER|SCORE_OPERATOR)_\w+.*$/, ""],
  [/\bprize_tiers\[(\d+)\]/g, (_, n) => `tier ${Number(n) + 1}`],
  [/\brewards\[(\d+)\]/g, (_, n) => `reward ${Number(n) + 1}`],
  [/\b(recurrence\.)?start_time\b/g, "the start"],
  [/\b(recurrence\.)?end_time\b/g, "the end"],
  [/\brank_from\b/g, "the tier's first rank"],
  [/\brank_to\b/g, "the tier's last rank"],
  [/\b(recurrence\.)?run_duration\b/g, "the run duration"],
  [/\b(recurrence\.)?time_zone\b/g, "the time zone"],
  [/\bmax_participants\b/g, "the max participants"],
  [/\bmax_submissions\b/g, "the max submissions"],
  [/\bexcluded_audiences\b/g, "the excluded audiences"],
  [/\bEndEvent\b/g, "“End now”"],
  [/\b(\d+) s\b/g, (_, n) => durationWords(Number(n))],
];

/**
 * A server message in the words of the form: API field names become what the form calls them ("must be after
 * start_time" → "must be after the start"), seconds become durations, enum names are dropped.
 */
export function humanizeMessage(text: string): string {
  let result = text;
  for (const [pattern, replacement] of MESSAGE_WORDS) {
    result =
      typeof replacement === "string"
        ? result.replace(pattern, replacement)
        : result.replace(pattern, (...args) => replacement(...(args as string[])));
  }
  return result;
}

/** The field violations of a failed event write, by path (without `event.`), in the form's words. */
export function eventFieldErrors(err: unknown): Map<string, string> {
  return new Map([...fieldErrorsOf(err)].map(([path, text]) => [path, humanizeMessage(text)]));
}

/**
 * A sentence for people about a failed event write: {@link describeError}, with the fields a refusal names
 * (FAILED_PRECONDITION: "run 3 is live: recurrence and leaderboard cannot change") in the form's words.
 */
export function describeEventError(err: unknown): string {
  const text = humanizeMessage(describeError(err));
  if (ConnectError.from(err).code !== Code.FailedPrecondition) return text;
  return text.replace(/\brecurrence\b/g, "the schedule").replace(/\b(?<!the )leaderboard\b/g, "the leaderboard");
}

/** The attributes of an input that has `error`: invalid, and described by the error's text (Field's `<id>-error`). */
export function invalidProps(id: string, error: string | undefined) {
  return error ? { "aria-invalid": true as const, "aria-describedby": `${id}-error` } : {};
}
