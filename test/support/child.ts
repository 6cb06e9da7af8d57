/** Runs small ES module scripts in child processes, for crash, GC and limit behaviour. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** URL of a compiled module of the package (`npm test` builds dist/ first). */
export function distUrl(relative: string): string {
  return new URL(`../../dist/lib/${relative}`, import.meta.url).href;
}

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON, when there is one. */
  json: unknown;
}

/**
 * Runs `source` as an ES module with `node`, optionally under a wrapper command (prlimit,
 * setpriv, capsh ...). `prefix` is argv before node, e.g. ['prlimit', '--memlock=65536'].
 */
export function runModule(
  source: string,
  options: {
    nodeArgs?: string[];
    prefix?: string[];
    env?: NodeJS.ProcessEnv;
    timeout?: number;
  } = {},
): ChildResult {
  const argv = [
    ...(options.prefix ?? []),
    process.execPath,
    ...(options.nodeArgs ?? []),
    '--input-type=module',
    '-e',
    source,
  ];
  const result: SpawnSyncReturns<string> = spawnSync(argv[0]!, argv.slice(1), {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    timeout: options.timeout ?? 120_000,
  });
  const lines = (result.stdout ?? '').trim().split('\n');
  let json: unknown;
  try {
    json = JSON.parse(lines[lines.length - 1] ?? '');
  } catch {
    json = undefined;
  }
  return {
    status: result.status,
    signal: result.signal,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    json,
  };
}

/** True when a command exists on PATH. */
export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

export const isRoot = process.getuid?.() === 0;
