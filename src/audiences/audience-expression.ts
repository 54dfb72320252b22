import { Environment } from "@marcbachmann/cel-js";
import { invalidArgument } from "../errors.js";

/**
 * The longest expression accepted. Together with the parser's limits below, compiling and evaluating one stays in
 * microseconds whatever is typed.
 */
export const EXPRESSION_MAX = 4096;

/** What an expression sees of a player: `player.id`, `player.properties` (by name) and `player.create_time`. */
export class AudiencePlayer {
  constructor(
    readonly id: string,
    /** Property values as CEL sees them: string, number (a double), boolean, Date (a timestamp). */
    readonly properties: ReadonlyMap<string, string | number | boolean | Date>,
    readonly create_time: Date,
  ) {}
}

/** Compares dotted versions ("1.10.2" > "1.9"): numbers part by part, missing parts as 0, other text as text. */
export function compareVersions(a: string, b: string): number {
  const left = a.trim().replace(/^v/i, "").split(/[.+-]/);
  const right = b.trim().replace(/^v/i, "").split(/[.+-]/);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const l = left[i] ?? "0";
    const r = right[i] ?? "0";
    const ln = /^\d+$/.test(l) ? Number(l) : Number.NaN;
    const rn = /^\d+$/.test(r) ? Number(r) : Number.NaN;
    const order = Number.isNaN(ln) || Number.isNaN(rn) ? l.localeCompare(r) : ln - rn;
    if (order !== 0) return Math.sign(order);
  }
  return 0;
}

const MS_PER_HOUR = 3_600_000;

/**
 * The one CEL environment of audiences: `player` and `now`, the standard library, optional chaining
 * (`player.properties.?vip.orValue(false)`), and the helpers a live-ops team asks for.
 */
const environment = new Environment({
  enableOptionalTypes: true,
  limits: { maxAstNodes: 1000, maxDepth: 32, maxListElements: 1000, maxMapEntries: 100, maxCallArguments: 8 },
})
  .registerType("liveops.Player", {
    fields: { id: "string", properties: "map<string, dyn>", create_time: "google.protobuf.Timestamp" },
    ctor: AudiencePlayer,
  })
  .registerVariable("player", "liveops.Player")
  .registerVariable("now", "google.protobuf.Timestamp")
  .registerFunction("versionCompare(string, string): int", (a: string, b: string) => BigInt(compareVersions(a, b)))
  .registerFunction("versionAtLeast(string, string): bool", (a: string, b: string) => compareVersions(a, b) >= 0)
  .registerFunction(
    "daysSince(google.protobuf.Timestamp, google.protobuf.Timestamp): double",
    (t: Date, now: Date) => (now.getTime() - t.getTime()) / (24 * MS_PER_HOUR),
  )
  .registerFunction(
    "hoursSince(google.protobuf.Timestamp, google.protobuf.Timestamp): double",
    (t: Date, now: Date) => (now.getTime() - t.getTime()) / MS_PER_HOUR,
  );

/** Why an expression does not compile: a message and where (1-based line and column). */
export class ExpressionError extends Error {
  constructor(
    readonly summary: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${line}:${column}: ${summary}`);
    this.name = "ExpressionError";
  }
}

/**
 * What an audience expression may not call, and why: evaluation runs on the event loop for every player a listing
 * looks at, so its cost must be bounded by the expression's size. JavaScript regular expressions backtrack (a
 * pattern such as `^(a+)+$` takes seconds on a 30-character id), and a comprehension nested in another multiplies
 * its list's length (a list split from a 1,000-character literal, twice, is a million steps). Player properties
 * are scalars, so `in [...]` and the string functions cover what audiences need.
 */
const UNBOUNDED: ReadonlyMap<string, string> = new Map([
  [
    "matches",
    "matches() is not available: a regular expression can take exponential time; use startsWith, endsWith, contains or in",
  ],
  ...["all", "exists", "exists_one", "map", "filter"].map(
    (name) =>
      [name, `${name}() is not available: its cost grows with its list; use in [...] or the string functions`] as [
        string,
        string,
      ],
  ),
]);

interface AstNode {
  op: string;
  args: unknown;
  start?: number;
}

/** The first call in `node` (a cel-js AST) of a function whose cost is not bounded by the expression's size. */
function unboundedCall(node: unknown): { message: string; offset: number } | undefined {
  if (Array.isArray(node)) {
    for (const child of node) {
      const found = unboundedCall(child);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof node !== "object" || node === null || !("op" in node)) return undefined;
  const { op, args, start } = node as AstNode;
  if ((op === "call" || op === "rcall") && Array.isArray(args) && typeof args[0] === "string") {
    const message = UNBOUNDED.get(args[0]);
    if (message) return { message, offset: start ?? 0 };
  }
  return unboundedCall(args);
}

/** A compiled expression: true when it matches the player at `now`; a failed evaluation is an Error. */
export type AudienceMatcher = (player: AudiencePlayer, now: Date) => boolean | Error;

function positionOf(source: string, offset: number | undefined): { line: number; column: number } {
  const before = source.slice(0, Math.max(0, offset ?? 0));
  const lines = before.split("\n");
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

function expressionError(source: string, err: unknown): ExpressionError {
  const error = err as { message?: unknown; range?: { start?: number } };
  const summary = String(error?.message ?? err).split("\n")[0] ?? "invalid expression";
  const { line, column } = positionOf(source, error?.range?.start);
  return new ExpressionError(summary, line, column);
}

/**
 * Parses and type-checks `source` once; throws {@link ExpressionError} with the position of a syntax or type error,
 * a call whose cost is unbounded (see UNBOUNDED), or when the expression is not a bool (a `dyn` one, e.g. a bare
 * property, is checked when evaluated).
 */
export function compileExpression(source: string): AudienceMatcher {
  if (source.length > EXPRESSION_MAX) {
    throw new ExpressionError(`longer than ${EXPRESSION_MAX} characters`, 1, EXPRESSION_MAX + 1);
  }
  let checked: ReturnType<Environment["check"]>;
  try {
    checked = environment.check(source);
  } catch (err) {
    throw expressionError(source, err);
  }
  if (!checked.valid) throw expressionError(source, checked.error);
  if (checked.type !== "bool" && checked.type !== "dyn") {
    throw new ExpressionError(`the expression must be a bool, not ${checked.type}`, 1, 1);
  }
  const evaluate = environment.parse(source);
  const unbounded = unboundedCall((evaluate as unknown as { ast: unknown }).ast);
  if (unbounded) {
    const { line, column } = positionOf(source, unbounded.offset);
    throw new ExpressionError(unbounded.message, line, column);
  }
  const bindings = { player: undefined as AudiencePlayer | undefined, now: undefined as Date | undefined };
  return (player, now) => {
    bindings.player = player;
    bindings.now = now;
    // A failure (most often a property the player lacks) is an answer, not a bug: no stack trace to capture.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      const result = evaluate(bindings);
      return typeof result === "boolean" ? result : new Error(`the expression gave ${typeof result}, not a bool`);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
  };
}

/** An expression of a request compiled, or INVALID_ARGUMENT naming `field` with the error's position. */
export function compiledOrInvalid<T>(field: string, compile: () => T): T {
  try {
    return compile();
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err;
    throw invalidArgument([{ field, description: err.message, reason: "INVALID_EXPRESSION" }]);
  }
}
