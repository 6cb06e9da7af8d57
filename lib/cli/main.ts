/**
 * `dynamo-memory`: the command line of @dynamo/memory. Each command lives in commands/<name>.ts
 * and registers itself on the program here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { Command, CommanderError } from 'commander';

import { packageRoot } from '../binding.js';

import { type CliIo, ExitCode, runAction } from './context.js';
import { commands } from './commands/index.js';

/** Builds the program with every command; exported for tests and for `--help` rendering. */
export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('dynamo-memory')
    .description('Page-aligned memory and O_DIRECT data path for LLM serving on GPUs')
    .version(packageVersion(), '-V, --version')
    .option('--json', 'print one JSON document on stdout (versioned shape, see docs/cli.md)')
    .option('--debug', 'print stacks with errors')
    .showHelpAfterError()
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
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
      return benign.includes(error.code) ? ExitCode.ok : ExitCode.usage;
    }
    throw error;
  }
  return exitCode;
}

function packageVersion(): string {
  const manifest = path.join(packageRoot, 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}
