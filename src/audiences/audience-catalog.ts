import type { Metrics } from "../metrics/metrics.js";
import { valueToExpression } from "../players/player-properties.js";
import type { PlayerRow } from "../players/player-store.js";
import { type AudienceMatcher, AudiencePlayer, compileExpression } from "./audience-expression.js";
import type { AudienceRow, AudienceStore } from "./audience-store.js";

/** An audience ready to evaluate. */
interface CompiledAudience {
  matcher: AudienceMatcher | undefined;
  include: ReadonlySet<string>;
  exclude: ReadonlySet<string>;
}

/** Which audiences an event is for, and which it excludes (names). */
export interface EventTargeting {
  audiences: readonly string[];
  excludedAudiences: readonly string[];
}

/** What an expression sees of a stored player, or of one never stored (no properties, created now). */
export function audiencePlayerOf(id: string, row: PlayerRow | undefined, now: number): AudiencePlayer {
  if (!row) return new AudiencePlayer(id, new Map(), new Date(now));
  const properties = new Map<string, string | number | boolean | Date>();
  for (const [name, value] of Object.entries(row.properties)) properties.set(name, valueToExpression(value));
  return new AudiencePlayer(id, properties, new Date(row.createTime));
}

function compile(row: AudienceRow): CompiledAudience {
  let matcher: AudienceMatcher | undefined;
  try {
    matcher = row.expression === "" ? undefined : compileExpression(row.expression);
  } catch {
    // Saved expressions compiled when saved; one that no longer does (a helper removed) matches no one.
    matcher = () => false;
  }
  return { matcher, include: new Set(row.includeIds), exclude: new Set(row.excludeIds) };
}

/** Whether `player` is in `audience` at `now`: excluded ids never, included ids always, else the expression. */
function contains(audience: CompiledAudience, player: AudiencePlayer, now: Date, metrics: Metrics | undefined) {
  if (audience.exclude.has(player.id)) return false;
  if (audience.include.has(player.id)) return true;
  if (!audience.matcher) return false;
  const result = audience.matcher(player, now);
  if (result instanceof Error) {
    metrics?.audienceEvaluationFailures.inc();
    return false;
  }
  return result;
}

/**
 * The audiences compiled once and kept in memory, read again after a change through this instance or (through the
 * cluster change log) any other.
 */
export function createAudienceCatalog(store: AudienceStore, metrics?: Metrics) {
  let compiled: Map<string, CompiledAudience> | undefined;
  let loading: Promise<Map<string, CompiledAudience>> | undefined;
  let generation = 0;

  const load = (): Promise<Map<string, CompiledAudience>> => {
    if (compiled) return Promise.resolve(compiled);
    if (!loading) {
      const at = generation;
      loading = store.allAudiences().then(
        (rows) => {
          loading = undefined;
          const read = new Map(rows.map((row) => [row.name, compile(row)]));
          if (at === generation) compiled = read;
          return read;
        },
        (err: unknown) => {
          loading = undefined;
          throw err;
        },
      );
    }
    return loading;
  };
  const changed = () => {
    generation++;
    compiled = undefined;
  };
  store.onChange(changed);

  return {
    /**
     * A function that tells whether an event targets `player` at `now`: not when an excluded audience holds it; yes
     * when the event names no audience or one of its audiences holds it.
     */
    async targeting(player: AudiencePlayer, now: number): Promise<(event: EventTargeting) => boolean> {
      return targetingWith(await load(), player, now, metrics);
    },

    /** The compiled audiences as they are now, for {@link targetingWith} inside a unit of work. */
    compiled: load,

    /** Drops the compiled audiences: they changed through another instance. */
    changed,
  };
}

/** The compiled audiences, by name. */
export type CompiledAudiences = ReadonlyMap<string, CompiledAudience>;

/** {@link AudienceCatalog.targeting} over audiences already compiled. */
export function targetingWith(
  audiences: CompiledAudiences,
  player: AudiencePlayer,
  now: number,
  metrics?: Metrics,
): (event: EventTargeting) => boolean {
  const at = new Date(now);
  const holds = (name: string) => {
    const audience = audiences.get(name);
    return audience !== undefined && contains(audience, player, at, metrics);
  };
  return (event) =>
    !event.excludedAudiences.some(holds) && (event.audiences.length === 0 || event.audiences.some(holds));
}

/** The compiled audiences of this instance. */
export type AudienceCatalog = ReturnType<typeof createAudienceCatalog>;

/** Evaluates an audience not yet saved (PreviewAudience, ListPlayers' filter). */
export function audienceOf(fields: {
  expression: string;
  includeIds: readonly string[];
  excludeIds: readonly string[];
}) {
  const audience: CompiledAudience = {
    matcher: fields.expression === "" ? undefined : compileExpression(fields.expression),
    include: new Set(fields.includeIds),
    exclude: new Set(fields.excludeIds),
  };
  return (player: AudiencePlayer, now: Date): boolean | Error => {
    if (audience.exclude.has(player.id)) return false;
    if (audience.include.has(player.id)) return true;
    return audience.matcher ? audience.matcher(player, now) : false;
  };
}
