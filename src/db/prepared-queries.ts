import { fillPlaceholders, type Query, type SQL } from "drizzle-orm";
import type { PlaceholderValues } from "./storage.js";

/**
 * The SQL text and parameters of a backend's queries. A query run with placeholder values (see
 * {@link PlaceholderValues}) is a module constant: rendered once, kept with it, and its placeholders filled per call;
 * any other query is rendered per call.
 */
export function createQueryRenderer(dialect: { sqlToQuery(query: SQL): Query }) {
  const rendered = new WeakMap<SQL, Query>();
  return (query: SQL, values: PlaceholderValues | undefined): Query => {
    if (values === undefined) return dialect.sqlToQuery(query);
    let found = rendered.get(query);
    if (!found) {
      found = dialect.sqlToQuery(query);
      rendered.set(query, found);
    }
    return { sql: found.sql, params: fillPlaceholders(found.params, values) };
  };
}
