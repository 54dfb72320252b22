import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

interface PackageJson {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}
interface PackageLock {
  packages: Record<string, { dev?: boolean }>;
}

const manifest = JSON.parse(readFileSync("package.json", "utf8")) as PackageJson;
const lock = JSON.parse(readFileSync("package-lock.json", "utf8")) as PackageLock;

/** Every .ts file under `dir`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : [],
  );
}

/** The packages a file imports at run time (type-only imports are erased by the compiler). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const names: string[] = [];
  for (const match of text.matchAll(/^\s*import\s+(?!type\s)(?:[^"']*?\s+from\s+)?["']([^"'.][^"']*)["']/gm)) {
    const specifier = match[1] ?? "";
    const parts = specifier.split("/");
    names.push(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? ""));
  }
  for (const match of text.matchAll(/await import\(["']([^"'.][^"']*)["']\)/g)) names.push(match[1] ?? "");
  return names.filter((name) => !name.startsWith("node:") && !builtinModules.includes(name));
}

/** The OpenAPI generator (a Buf plugin run at build time, on @bufbuild/protoplugin): not part of the server. */
const BUILD_TIME = join("src", "openapi");
const serverFiles = sourceFiles("src").filter((file) => !file.startsWith(BUILD_TIME));

describe("the production install", () => {
  it("holds every package the server imports at run time (npm ci --omit=dev would otherwise break it)", () => {
    const missing = serverFiles.flatMap((file) =>
      runtimeImports(file)
        .filter((name) => manifest.dependencies[name] === undefined)
        .map((name) => `${file}: ${name}`),
    );
    expect(missing).toEqual([]);
  });

  it("leaves the build-time OpenAPI generator out of the server: no server file imports it, the build skips it", () => {
    expect(
      serverFiles.filter((file) => /from\s+["'][./]+(?:\.\.\/)*openapi\//.test(readFileSync(file, "utf8"))),
    ).toEqual([]);
    const build = JSON.parse(readFileSync("tsconfig.build.json", "utf8")) as { exclude?: string[] };
    expect(build.exclude).toContain(BUILD_TIME);
  });

  it("does not ship the dashboard's libraries: React and its kin are build-time dependencies", () => {
    for (const name of ["react", "react-dom", "@tanstack/react-query", "@connectrpc/connect-query", "lucide-react"]) {
      expect(manifest.dependencies[name], name).toBeUndefined();
      expect(lock.packages[`node_modules/${name}`]?.dev, `${name} is dev-only in package-lock.json`).toBe(true);
    }
  });
});
