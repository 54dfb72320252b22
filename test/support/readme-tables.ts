/**
 * Reads the README's two tables about methods — the API table ("| method | what it does |") and the role table
 * ("| role | may call |") — into method paths (`/package.Service/Method`), and lists where they disagree with the
 * permission table (src/auth/roles.ts). Each check returns its problems, one sentence each: empty when the README
 * is right, so that a test can also run it on an altered copy and see it fail.
 */

import { PUBLIC } from "../../src/auth/roles.js";

/** Who may call a method: roles, or PUBLIC (no key). The shape of `methodRoles`. */
type Access = readonly string[] | typeof PUBLIC;

/** The package that a service named without one (`EventService`) is in. */
const readmePackage = "liveops.v1";
/** What the role table calls the callers without a key. */
const noKeyLabel = "(no key)";

const httpRoute = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \//;
const methodName = /^[A-Z][A-Za-z0-9]*$/;
const packageVersion = /^v\d+[a-z0-9]*$/;

/** The services the server serves and their methods, from the permission table. */
interface Catalog {
  methodsOf: Map<string, Set<string>>;
  paths: ReadonlySet<string>;
  /** The methods that need a key (all but the public ones). */
  keyPaths: ReadonlySet<string>;
}

function catalogOf(methodRoles: ReadonlyMap<string, Access>): Catalog {
  const methodsOf = new Map<string, Set<string>>();
  for (const path of methodRoles.keys()) {
    const [, service = "", method = ""] = path.split("/");
    methodsOf.set(service, (methodsOf.get(service) ?? new Set()).add(method));
  }
  const keyPaths = [...methodRoles].filter(([, access]) => access !== PUBLIC).map(([path]) => path);
  return { methodsOf, paths: new Set(methodRoles.keys()), keyPaths: new Set(keyPaths) };
}

/** The full name of the service `name` stands for (`EventService`, or `grpc.health.v1.Health`), if it is one. */
function serviceNamed(catalog: Catalog, name: string): string | undefined {
  if (catalog.methodsOf.has(name)) return name;
  if (catalog.methodsOf.has(`${readmePackage}.${name}`)) return `${readmePackage}.${name}`;
  return undefined;
}

/** The cells of a Markdown table row, trimmed (`\|` does not split). */
function cellsOf(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, "")
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

/** The body rows of the table whose header row's cells are `header`; throws when there is no such table. */
function tableRows(markdown: string, header: readonly string[]): string[][] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => line.startsWith("|") && cellsOf(line).join("|") === header.join("|"));
  if (start < 0) throw new Error(`no table with the header | ${header.join(" | ")} |`);
  const rows: string[][] = [];
  // The header, then the delimiter row, then the body up to the first line that is not a row.
  for (let i = start + 2; i < lines.length && lines[i]?.startsWith("|"); i++) rows.push(cellsOf(lines[i] ?? ""));
  return rows;
}

/** The `code spans` of a Markdown cell, in order. */
function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? "");
}

/**
 * The methods a first cell of the API table names: `Service.Method` (package liveops.v1) or
 * `package.Service.Method`, then more methods of that service (`GetAudience` or `.Watch`) and other versions of its
 * package (`v1alpha`). Undefined for a REST route's row (`GET /events`).
 */
function methodsOfApiRow(catalog: Catalog, cell: string): { paths: string[]; problems: string[] } | undefined {
  const [head, ...more] = codeSpans(cell);
  if (head === undefined) return { paths: [], problems: [`the API table's row "${cell}" names no method`] };
  if (httpRoute.test(head)) return undefined;
  const dot = head.lastIndexOf(".");
  const serviceName = head.slice(0, dot);
  const service = dot > 0 ? serviceNamed(catalog, serviceName) : undefined;
  if (service === undefined) {
    return { paths: [], problems: [`the API table's row ${head} names no service the server serves`] };
  }
  const services = [service];
  const methods = [head.slice(dot + 1)];
  const problems: string[] = [];
  for (const span of more) {
    const bare = span.replace(/^\./, "");
    if (methodName.test(bare)) methods.push(bare);
    else if (packageVersion.test(span)) {
      const segments = service.split(".");
      const version = segments.findIndex((segment) => packageVersion.test(segment));
      if (version < 0) problems.push(`the API table's row ${head} names version ${span} of an unversioned package`);
      else services.push(segments.with(version, span).join("."));
    } else problems.push(`the API table's row ${head} names \`${span}\`, which is neither a method nor a version`);
  }
  const paths = services.flatMap((s) => methods.map((m) => `/${s}/${m}`));
  for (const path of paths) {
    if (!catalog.paths.has(path)) problems.push(`the API table's row ${head} names ${path}, which is not served`);
  }
  return { paths: paths.filter((path) => catalog.paths.has(path)), problems };
}

/**
 * Where the README's API method table disagrees with the permission table: a method the server serves without
 * its row, a row naming a method it does not serve, a method with two rows. REST routes' rows are not checked.
 */
export function apiTableProblems(readme: string, methodRoles: ReadonlyMap<string, Access>): string[] {
  const catalog = catalogOf(methodRoles);
  const problems: string[] = [];
  const named = new Set<string>();
  for (const [first = ""] of tableRows(readme, ["method", "what it does"])) {
    const row = methodsOfApiRow(catalog, first);
    if (row === undefined) continue;
    problems.push(...row.problems);
    for (const path of row.paths) {
      if (named.has(path)) problems.push(`the API table has two rows for ${path}`);
      named.add(path);
    }
  }
  for (const path of catalog.paths) {
    if (!named.has(path)) problems.push(`the API table has no row for ${path}`);
  }
  return problems;
}

/** What one row of the role table names: methods, and the roles it includes ("what `viewer` may"). */
interface RoleRow {
  paths: Set<string>;
  includes: string[];
  problems: string[];
}

/**
 * Reads a "may call" cell. `Service` names the whole service — unless a parenthesised list of its methods follows
 * it, `Service` (`A`, `B`), which names just those; `Service.Method` one method; a bare `Method` outside such a
 * list the one method of that name; "everything" every method a key may call; a role (`viewer`) what that role
 * may. Other code spans (fields such as `event_id`, REST routes) name no method.
 */
function readRoleCell(catalog: Catalog, cell: string, roleNames: ReadonlySet<string>): RoleRow {
  const row: RoleRow = { paths: new Set(), includes: [], problems: [] };
  const name = (path: string, span: string) => {
    if (catalog.paths.has(path)) row.paths.add(path);
    else row.problems.push(`\`${span}\` is not a method the server serves`);
  };
  if (/^everything\b/.test(cell)) {
    for (const path of catalog.keyPaths) row.paths.add(path);
  }
  /** The service each open parenthesis lists the methods of (undefined: an ordinary aside). */
  const open: (string | undefined)[] = [];
  let listing: string | undefined;
  for (const match of cell.matchAll(/`([^`]+)`|\(|\)/g)) {
    const span = match[1];
    if (match[0] === "(") {
      open.push(listing);
      listing = undefined;
    } else if (match[0] === ")") open.pop();
    else if (span !== undefined) {
      listing = undefined;
      const inList = open.at(-1);
      const service = serviceNamed(catalog, span);
      const dot = span.lastIndexOf(".");
      const serviceOfMethod = dot > 0 ? serviceNamed(catalog, span.slice(0, dot)) : undefined;
      if (roleNames.has(span)) row.includes.push(span);
      else if (service !== undefined) {
        // Followed by its list of methods: names those alone, read as they come.
        if (/^\s*\(/.test(cell.slice((match.index ?? 0) + match[0].length))) listing = service;
        else for (const method of catalog.methodsOf.get(service) ?? []) row.paths.add(`/${service}/${method}`);
      } else if (serviceOfMethod !== undefined) name(`/${serviceOfMethod}/${span.slice(dot + 1)}`, span);
      else if (methodName.test(span) && inList !== undefined) name(`/${inList}/${span}`, span);
      else if (methodName.test(span)) {
        const matches = [...catalog.paths].filter((path) => path.endsWith(`/${span}`));
        if (matches.length === 1) row.paths.add(matches[0] ?? "");
        else row.problems.push(`\`${span}\` names ${matches.length} methods: write it as \`Service.${span}\``);
      }
    }
  }
  return row;
}

/**
 * Where the README's role table disagrees with the permission table: each role's row (and the "(no key)" row for
 * the public methods) must name exactly the methods that role may call — none it may not, none left out.
 */
export function roleTableProblems(
  readme: string,
  methodRoles: ReadonlyMap<string, Access>,
  roles: readonly string[],
): string[] {
  const catalog = catalogOf(methodRoles);
  const roleNames = new Set(roles);
  const rows = new Map<string, RoleRow>();
  const problems: string[] = [];
  for (const [label = "", mayCall = ""] of tableRows(readme, ["role", "may call"])) {
    const role = label === noKeyLabel ? PUBLIC : (codeSpans(label)[0] ?? label);
    if (role !== PUBLIC && !roleNames.has(role)) problems.push(`the role table has a row for ${label}, no role`);
    else if (rows.has(role)) problems.push(`the role table has two rows for ${label}`);
    else rows.set(role, readRoleCell(catalog, mayCall, roleNames));
  }
  /** What a row names, with what the roles it includes name (a role includes no role that includes it). */
  const namedBy = (role: string, seen: ReadonlySet<string>): Set<string> => {
    const row = rows.get(role);
    const named = new Set(row?.paths);
    for (const included of row?.includes ?? []) {
      if (seen.has(included)) continue;
      for (const path of namedBy(included, new Set([...seen, role]))) named.add(path);
    }
    return named;
  };
  for (const role of [...roles, PUBLIC]) {
    const label = role === PUBLIC ? noKeyLabel : `\`${role}\``;
    const row = rows.get(role);
    if (row === undefined) {
      problems.push(`the role table has no row for ${label}`);
      continue;
    }
    problems.push(...row.problems.map((problem) => `the role table's ${label} row: ${problem}`));
    const named = namedBy(role, new Set());
    for (const [path, access] of methodRoles) {
      const may = role === PUBLIC ? access === PUBLIC : access !== PUBLIC && access.includes(role);
      if (may && !named.has(path)) problems.push(`the role table's ${label} row leaves out ${path}`);
      if (!may && named.has(path)) problems.push(`the role table's ${label} row names ${path}, which it may not call`);
    }
  }
  return problems;
}
