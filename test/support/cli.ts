/** Runs the built CLI (`node bin/dynamo-memory.js`, as users do) in a child process. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';

import { repoRoot } from './child.js';

export const cliPath = path.join(repoRoot, 'bin/dynamo-memory.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

/** Runs `dynamo-memory ...args` to completion. */
export function runCli(
  args: string[],
  options: { prefix?: string[]; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): CliResult {
  const argv = [...(options.prefix ?? []), process.execPath, cliPath, ...args];
  const result = spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env },
    timeout: 300_000,
  });
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, json };
}

/** Starts the CLI without waiting, for signal tests. */
export function startCli(args: string[]) {
  return spawn(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * A fresh scratch folder on the disk-backed filesystem of the checkout (never tmpfs: O_DIRECT
 * behaves differently there).
 */
export function scratchDir(name: string): string {
  const base = path.join(repoRoot, 'test/.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(path.join(base, `${name}-`));
}
