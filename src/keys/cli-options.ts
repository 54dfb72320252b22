import { apiKeyRoles } from "../auth/roles.js";

// The command line of the keys CLI, read by hand rather than with util.parseArgs: parseArgs refuses
// `--expires-in-days -5` as "ambiguous" (a value starting with a dash) with a three-line message, where the honest
// answer is that -5 is out of range; and every mistake here must be one line naming the option.

/** A mistake in how the CLI was called: one line on stderr, a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The commands of the keys CLI. */
export const keyCommands = ["create", "list", "revoke", "rotate"] as const;

/** One of {@link keyCommands}. */
export type KeyCommand = (typeof keyCommands)[number];

/** Options that take a value, with the commands they apply to (undefined: every command). */
const valueOptions: Record<string, readonly KeyCommand[] | undefined> = {
  db: undefined,
  "database-url": undefined,
  role: ["create"],
  name: ["create"],
  "expires-in-days": ["create"],
  rate: ["create"],
  "grace-hours": ["rotate"],
};

/** Options that are on or off, for every command. */
const switches = ["create", "json", "help"] as const;

/** What the command line asks for, not yet checked against the database. */
export interface CliRequest {
  /** Undefined with `--help` alone. */
  command: KeyCommand | undefined;
  /** The key id of revoke and rotate. */
  id: string | undefined;
  /** Values of the options given, by option name without the dashes. */
  values: Partial<Record<string, string>>;
  create: boolean;
  json: boolean;
  help: boolean;
}

/** Positionals each command takes after its name. */
const positionalsOf: Record<KeyCommand, number> = { create: 0, list: 0, revoke: 1, rotate: 1 };

/** Reads `argv` (the arguments after `npm run keys --`); UsageError for anything it does not understand. */
export function parseKeysCommandLine(argv: readonly string[]): CliRequest {
  const values: Partial<Record<string, string>> = {};
  const on = { create: false, json: false, help: false };
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h") {
      on.help = true;
      continue;
    }
    if (!arg.startsWith("--")) {
      if (arg.startsWith("-") && arg.length > 1) throw new UsageError(`unknown option "${arg}"`);
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const name = arg.slice(2, equals === -1 ? undefined : equals);
    if ((switches as readonly string[]).includes(name)) {
      if (equals !== -1) throw new UsageError(`--${name} takes no value`);
      on[name as (typeof switches)[number]] = true;
      continue;
    }
    if (!(name in valueOptions)) throw new UsageError(`unknown option "--${name}"`);
    if (values[name] !== undefined) throw new UsageError(`--${name} is given twice`);
    let value: string | undefined;
    if (equals !== -1) value = arg.slice(equals + 1);
    else {
      // The next argument is the value, even when it starts with a dash (a negative number is refused by the
      // option's own check), unless it is another option.
      value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    values[name] = value;
  }
  const [word, ...rest] = positionals;
  if (word === undefined) {
    if (on.help) return { command: undefined, id: undefined, values, ...on };
    throw new UsageError("a command is required");
  }
  if (!(keyCommands as readonly string[]).includes(word)) {
    throw new UsageError(`unknown command "${word}" (commands: ${keyCommands.join(", ")})`);
  }
  const command = word as KeyCommand;
  for (const name of Object.keys(values)) {
    const commands = valueOptions[name];
    if (commands && !commands.includes(command)) throw new UsageError(`--${name} does not apply to ${command}`);
  }
  if (values.db !== undefined && values["database-url"] !== undefined) {
    throw new UsageError("give --db (a SQLite file) or --database-url (PostgreSQL), not both");
  }
  if (rest.length > positionalsOf[command]) {
    throw new UsageError(`unexpected argument "${rest[positionalsOf[command]]}" after ${command}`);
  }
  return { command, id: rest[0], values, ...on };
}

/** The text of `npm run keys -- --help`. */
export const keysUsage = `usage: npm run keys -- <command> [options]
       node dist/src/keys/cli.js <command> [options]   (built, as in the container image)

Commands:
  create --role <${apiKeyRoles.join("|")}> --name <name> [--expires-in-days N] [--rate <per second>/<burst>]
                          create a key and print its secret once
  list                    list every key (never a secret)
  revoke <id>             revoke a key: its next request is refused
  rotate <id> [--grace-hours N]
                          print a new secret for the key; the old one works N more hours (default 0)

Options:
  --db <path>             the SQLite database file (instead of DB_PATH, default ./data/liveops.db)
  --database-url <url>    the PostgreSQL database (instead of DATABASE_URL, which otherwise wins over DB_PATH)
  --create                create the SQLite file when it does not exist (the server creates it on its first start)
  --json                  print JSON on stdout: list an array of keys, the other commands one object
  -h, --help              this text

Exit codes: 0 done; 1 the command failed (database not reachable, no such key, key revoked);
            2 a usage error (unknown command or option, bad value, missing database file).

Works also while the server runs; every change is written to the audit log with the actor "cli".`;

/** The line printed after a usage error. */
export const usageHint = "--help lists the commands and options";
