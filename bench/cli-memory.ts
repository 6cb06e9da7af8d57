/**
 * Peak memory of `dynamo-memory copy` and `load`: each runs in a child process that reports its
 * peak RSS (getrusage). The baseline is the same command on a one-block file, measured in the
 * same run, so "beyond the runtime's own footprint" is peak minus baseline.
 * Goal: copy holds at most depth x block size beyond the baseline, whatever the file size.
 * Usage: npm run bench -- cli-memory [DIR] (default: a folder under the current directory).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';

import { formatSize } from '../lib/size.js';

const mainUrl = new URL('../lib/cli/main.js', import.meta.url).href;

/** Peak RSS in bytes of a child running the CLI with `args` (its output discarded). */
function peakRss(args: string[]): number {
  const source = `
    import { main } from ${JSON.stringify(mainUrl)};
    const sink = { write() { return true; }, isTTY: false };
    const code = await main(${JSON.stringify(args)}, { stdout: sink, stderr: process.stderr, env: process.env });
    if (code !== 0) process.exit(code);
    console.log(process.resourceUsage().maxRSS * 1024);`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', source], {
    encoding: 'utf8',
  });
  return Number(output.trim().split('\n').pop());
}

function makeFile(file: string, bytes: number): void {
  execFileSync('sh', ['-c', `head -c ${bytes} /dev/urandom > '${file}'`]);
}

export async function run(args: string[]): Promise<void> {
  const dir = mkdtempSync(path.join(args[0] ?? process.cwd(), '.dmem-bench-memory-'));
  try {
    const blockSize = 4 << 20;
    const depth = 4;
    const copyArgs = ['--block-size', String(blockSize), '--depth', String(depth)];
    const small = path.join(dir, 'small.bin');
    makeFile(small, 4096);
    const rows = [];
    for (const size of [256 * 1024 ** 2, 2 * 1024 ** 3]) {
      const file = path.join(dir, `data-${size}.bin`);
      makeFile(file, size);

      // ABBA around the measured commands: baseline, copy, load, baseline
      const baselineBefore = peakRss(['copy', small, path.join(dir, 'small.copy'), ...copyArgs]);
      const copyPeak = peakRss(['copy', file, path.join(dir, 'data.copy'), ...copyArgs]);
      const loadPeak = peakRss(['load', file]);
      const baselineAfter = peakRss(['copy', small, path.join(dir, 'small.copy'), ...copyArgs]);
      const baseline = (baselineBefore + baselineAfter) / 2;
      const pipeline = blockSize * depth;
      rows.push({
        'file size': formatSize(size),
        'baseline peak RSS': formatSize(baseline),
        'copy beyond baseline': formatSize(copyPeak - baseline),
        'depth x block': formatSize(pipeline),
        'copy ratio (<= 1)': ((copyPeak - baseline) / pipeline).toFixed(2),
        'load beyond baseline': formatSize(loadPeak - baseline),
        'load / file size': ((loadPeak - baseline) / size).toFixed(2),
      });
      rmSync(file);
      rmSync(path.join(dir, 'data.copy'), { force: true });
    }
    console.table(rows);
    console.log(
      'Goal: copy ratio <= 1.00 at every file size (O_DIRECT keeps the page cache out of RSS).',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
