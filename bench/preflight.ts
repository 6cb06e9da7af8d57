/**
 * Preflight: a full run (profile gds, a data directory, 64 MiB pinned: every check and probe,
 * mlock and O_DIRECT write included), in process and as the CLI in a child process. Baseline in
 * the same run: a bare `node -e 0` child, which the CLI figure cannot beat.
 * Goal: the whole CLI run under 1 s, i.e. well under 1000 ms in the "CLI ms" column.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Bench } from 'tinybench';

import { preflight } from '../lib/security/preflight.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'bin/dynamo-memory.js');

export async function run(args: string[]): Promise<void> {
  // NB: the data directory sits in the package, on a disk-backed filesystem, not in /tmp (tmpfs).
  const dataDir = args[0] ?? mkdtempSync(path.join(root, '.bench-preflight-'));
  const options = { profile: 'gds', dataDir, pinnedBytes: 64 << 20, auditLog: false } as const;
  const cliArgs = [
    cli,
    'preflight',
    '--json',
    '--profile',
    'gds',
    '--data-dir',
    dataDir,
    '--pinned',
    '64MiB',
  ];
  const child = (argv: string[]) => {
    try {
      execFileSync(process.execPath, argv, { stdio: 'ignore', env: { PATH: process.env.PATH } });
    } catch {
      // exit code 1 is expected: this machine fails checks
    }
  };

  const bench = new Bench({ iterations: 20, time: 0, warmupIterations: 2 });
  bench
    .add('preflight() in process', async () => {
      await preflight(options);
    })
    .add('node -e 0 (baseline)', () => child(['-e', '0']))
    .add('dynamo-memory preflight (child)', () => child(cliArgs));
  await bench.run();

  const meanMs = (name: string) =>
    (bench.getTask(name)?.result as { latency?: { mean: number } } | undefined)?.latency?.mean ??
    NaN;
  const inProcess = meanMs('preflight() in process');
  const baseline = meanMs('node -e 0 (baseline)');
  const whole = meanMs('dynamo-memory preflight (child)');
  const report = await preflight(options);
  console.table([
    {
      checks: report.results.length,
      'in-process ms': inProcess.toFixed(1),
      'node -e 0 ms': baseline.toFixed(1),
      'CLI ms': whole.toFixed(1),
      'CLI / node -e 0': (whole / baseline).toFixed(2),
      'CLI share of 1 s': (whole / 1000).toFixed(2),
    },
  ]);
  console.log(`Goal: "CLI ms" < 1000 (${whole < 1000 ? 'met' : 'NOT met'}).`);
  if (args[0] === undefined) rmSync(dataDir, { recursive: true, force: true });
}
