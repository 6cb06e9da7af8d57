/** What every CLI command shares: output streams, `--json`, `--debug`, exit codes and errors. */
import type { Command } from 'commander';

import {
  AddonLoadError,
  CudaUnavailableError,
  DirectIoUnsupportedError,
  InvalidArgumentError,
  MemoryError,
  NixlUnavailableError,
} from '../errors.js';

/** Exit codes of `dynamo-memory`, documented in docs/cli.md. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  notReady: 2,
  usage: 3,
} as const;

/** A usage mistake on the command line: exit code 3. */
export class UsageError extends InvalidArgumentError {
  override name = 'UsageError';
}

/** Where a command writes; tests substitute their own streams. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
}

/** Global options every command accepts. */
export interface GlobalOptions {
  json?: boolean;
  debug?: boolean;
}

/** Passed to each command's action. */
export interface CommandContext {
  io: CliIo;
  json: boolean;
  debug: boolean;
  /** Prints one JSON document (with `schema` and `version` first) to stdout. */
  printJson(schema: string, version: number, body: object): void;
  /** Prints a line to stdout. */
  print(line?: string): void;
  /** Prints a line to stderr. */
  warn(line: string): void;
}

/** A command's action: resolves to its exit code. */
export type CommandAction = (context: CommandContext, ...args: unknown[]) => Promise<number>;

/** Picks the exit code for an error: 3 usage, 2 environment not ready, 1 any other failure. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return ExitCode.usage;
  if (error instanceof InvalidArgumentError) return ExitCode.usage;
  if (
    error instanceof AddonLoadError ||
    error instanceof CudaUnavailableError ||
    error instanceof NixlUnavailableError ||
    error instanceof DirectIoUnsupportedError
  ) {
    return ExitCode.notReady;
  }
  return ExitCode.failure;
}

/** Creates the context for one command run. */
export function makeContext(io: CliIo, options: GlobalOptions): CommandContext {
  return {
    io,
    json: options.json === true,
    debug: options.debug === true,
    printJson(schema, version, body) {
      io.stdout.write(JSON.stringify({ schema, version, ...body }, jsonReplacer, 2) + '\n');
    },
    print(line = '') {
      io.stdout.write(line + '\n');
    },
    warn(line) {
      io.stderr.write(line + '\n');
    },
  };
}

/** JSON has no bigint: addresses and large counts are written as decimal strings. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * Reports a failed command: one line with the error's code (the stack with `--debug`), or with
 * `--json` an `{ ok: false, error }` document on stdout.
 */
export function reportFailure(context: CommandContext, command: string, error: unknown): number {
  const code = exitCodeFor(error);
  const errorCode =
    error instanceof MemoryError
      ? error.code
      : ((error as { code?: string } | null)?.code ?? 'ERR_DMEM_INTERNAL');
  const rawMessage = error instanceof Error ? error.message : String(error);
  // Node's fs errors start their message with the code; print it once.
  const message = rawMessage.startsWith(`${errorCode}: `)
    ? rawMessage.slice(errorCode.length + 2)
    : rawMessage;
  if (context.json) {
    context.printJson(`dynamo-memory/${command}`, 1, {
      ok: false,
      error: { code: errorCode, message, exitCode: code },
    });
  }
  context.warn(`dynamo-memory ${command}: ${errorCode}: ${message}`);
  if (context.debug && error instanceof Error && error.stack) context.warn(error.stack);
  return code;
}

/**
 * Wires a command's action so that it gets a context and its failures become exit codes. The
 * last two commander arguments (options object and the Command) are replaced by the context.
 */
export function runAction(
  io: CliIo,
  setExitCode: (code: number) => void,
  name: string,
  action: (
    context: CommandContext,
    args: string[],
    options: Record<string, unknown>,
  ) => Promise<number>,
): (...commanderArgs: unknown[]) => Promise<void> {
  return async (...commanderArgs: unknown[]) => {
    const command = commanderArgs[commanderArgs.length - 1] as Command;
    const options = command.optsWithGlobals() as Record<string, unknown> & GlobalOptions;
    const args = commanderArgs.slice(0, -2).flat() as string[];
    const context = makeContext(io, options);
    try {
      setExitCode(await action(context, args, options));
    } catch (error) {
      setExitCode(reportFailure(context, name, error));
    }
  };
}
