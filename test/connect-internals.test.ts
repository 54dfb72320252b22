import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/** Every TypeScript file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

describe("connect's private protocol helpers", () => {
  it("are imported in src/server/connect-internals.ts and nowhere else in the server", () => {
    const importing = sources("src").filter((file) =>
      /from "@connectrpc\/connect\/protocol[^"]*"/.test(readFileSync(file, "utf8")),
    );
    // The OpenAPI generator runs at build time only (a Buf plugin), never in the server.
    expect(importing.filter((file) => !file.startsWith(join("src", "openapi")))).toEqual([
      join("src", "server", "connect-internals.ts"),
    ]);
  });
});
