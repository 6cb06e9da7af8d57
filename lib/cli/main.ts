/**
 * `dynamo-memory`: the command line of @dynamo/memory. Each command lives in commands/<name>.ts
 * and registers itself on the program here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { Command, CommanderError } from 'commander';

import { packageRoot } from '../binding.js';

import { type CliIo, ExitCode, makeContext, runAction } from './context.js';
import { commands } from './commands/index.js';

/** Builds the program with every command; exported for tests and for `--help` rendering. */
export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('dynamo-memory')
    .description('Page-aligned memory and O_DIRECT data path for LLM serving on GPUs')
    .version(packageVersion(), '-V, --version')
    .option('--json', 'print one JSON document on stdout (versioned shape, see docs/cli.md)')
    .option('--debug', 'print stacks with errors')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Parse errors are reported by main() in the shape of every other error.
      outputError: () => undefined,
    });
  for (const define of commands) {
    define(program, (name, action) => runAction(io, setExitCode, name, action));
  }
  return program;
}

/**
 * Runs the CLI with `argv` (without node and script) and resolves to the exit code: 0 ok,
 * 1 failure, 2 environment not ready, 3 usage error.
 */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      const benign = ['commander.helpDisplayed', 'commander.version', 'commander.help'];
      if (benign.includes(error.code)) return ExitCode.ok;
      return reportUsageError(argv, io, error);
    }
    throw error;
  }
  return exitCode;
}

/**
 * A command line the parser refused: one coded line on stderr naming the command and pointing to
 * its help, and with `--json` anywhere in argv the usual `{ ok: false, error }` document.
 */
function reportUsageError(argv: string[], io: CliIo, error: CommanderError): number {
  const command = argv.find((arg) => commandNames.includes(arg));
  const where = command === undefined ? 'dynamo-memory' : `dynamo-memory ${command}`;
  const message = error.message.replace(/^error: /, '');
  const context = makeContext(io, { json: argv.includes('--json') });
  if (context.json) {
    context.printJson(`dynamo-memory/${command ?? 'cli'}`, 1, {
      ok: false,
      error: { code: 'ERR_DMEM_USAGE', message, exitCode: ExitCode.usage },
    });
  }
  context.warn(`${where}: ERR_DMEM_USAGE: ${message} (see ${where} --help)`);
  return ExitCode.usage;
}

const commandNames = ['load', 'copy', 'info', 'bench', 'preflight', 'lint'];

function packageVersion(): string {
  const manifest = path.join(packageRoot, 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}
