import { systemClock } from "../clock.js";
import { type KeyTask, keyTaskOf, processOutput, runKeyTask } from "./cli-commands.js";
import { CliFailure, chooseDatabase, errorLine, openCliDatabase } from "./cli-database.js";
import { keysUsage, parseKeysCommandLine, UsageError, usageHint } from "./cli-options.js";
import { createKeyStore } from "./key-store.js";

// The keys CLI: `npm run keys -- <command>` from the sources, `node dist/src/keys/cli.js <command>` when built (the
// container image). Exit codes: 0 done, 1 the command failed, 2 a usage error. Every error is one line on stderr.

async function main(argv: readonly string[]): Promise<void> {
  const request = parseKeysCommandLine(argv);
  if (request.help || request.command === undefined) {
    process.stdout.write(`${keysUsage}\n`);
    return;
  }
  // Every value is checked before the database is opened, so that a typo never creates or migrates anything.
  const task: KeyTask = keyTaskOf({ ...request, command: request.command });
  const choice = chooseDatabase({ db: request.values.db, databaseUrl: request.values["database-url"] }, process.env);
  const storage = await openCliDatabase(choice, request.create);
  try {
    await runKeyTask(createKeyStore(storage), task, systemClock.now(), processOutput(request.json));
  } finally {
    await storage.close();
  }
}

// A reader that stops early (`list | head`) is done with the output: not a failure, and no stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") process.stderr.write(`keys: failed: cannot write the output: ${errorLine(err)}\n`);
  process.exit(err.code === "EPIPE" ? 0 : 1);
});

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`keys: ${err.message}\n${usageHint}\n`);
      process.exitCode = 2;
    } else {
      // A CliFailure says what failed; anything else is unexpected, still one line: its message, not its stack.
      const prefix = err instanceof CliFailure ? "" : "failed: ";
      process.stderr.write(`keys: ${prefix}${errorLine(err)}\n`);
      process.exitCode = 1;
    }
  },
);
