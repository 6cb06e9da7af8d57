/**
 * Host memory: allocate + touch + free at 4 KiB, 1 MiB, 64 MiB and 1 GiB, against
 * Buffer.allocUnsafeSlow and against C posix_memalign + touch + free, in the same run.
 * Goal: within 1.2x of the C figure from 1 MiB up. "Touch" writes every byte.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Bench } from 'tinybench';

import { allocate } from '../lib/host-buffer.js';
import { formatSize } from '../lib/size.js';

const sourceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/native');

function compileBaseline(): string {
  const binary = path.join(mkdtempSync(path.join(tmpdir(), 'dmem-bench-')), 'alloc-baseline');
  execFileSync('cc', ['-O2', '-o', binary, path.join(sourceDir, 'alloc-baseline.c')]);
  return binary;
}

function cBaseline(binary: string, size: number, zero: boolean, iterations: number): number {
  const output = execFileSync(
    binary,
    [String(size), '4096', zero ? '1' : '0', String(iterations), '0.5'],
    {
      encoding: 'utf8',
    },
  );
  return (JSON.parse(output) as { nsPerOp: number }).nsPerOp;
}

export async function run(args: string[]): Promise<void> {
  const sizes = args.length > 0 ? args.map(Number) : [4096, 1 << 20, 64 << 20, 1 << 30];
  const baseline = compileBaseline();
  const rows = [];
  for (const size of sizes) {
    const iterations = size >= 1 << 30 ? 3 : size >= 64 << 20 ? 20 : 200;
    const bench = new Bench({ iterations, time: size >= 1 << 30 ? 0 : 500, warmupIterations: 2 });
    bench
      .add('HostBuffer zero:false', () => {
        const buffer = allocate(size, { zero: false });
        buffer.bytes.fill(1);
        buffer.free();
      })
      .add('HostBuffer zero:true', () => {
        const buffer = allocate(size);
        buffer.bytes.fill(1);
        buffer.free();
      });
    if (size <= 64 << 20) {
      bench.add('Buffer.allocUnsafeSlow', () => {
        Buffer.allocUnsafeSlow(size).fill(1);
      });
    }

    // ABBA: C, JS, C again; the C figure is the mean of its two runs.
    const cFirst = cBaseline(baseline, size, false, iterations);
    const cZeroFirst = cBaseline(baseline, size, true, iterations);
    await bench.run();
    const cSecond = cBaseline(baseline, size, false, iterations);
    const cZeroSecond = cBaseline(baseline, size, true, iterations);
    const cNs = (cFirst + cSecond) / 2;
    const cZeroNs = (cZeroFirst + cZeroSecond) / 2;

    const meanNs = (name: string) => {
      const task = bench.getTask(name);
      const result = task?.result as { latency?: { mean: number } } | undefined;
      return (result?.latency?.mean ?? NaN) * 1e6;
    };
    const ours = meanNs('HostBuffer zero:false');
    const oursZero = meanNs('HostBuffer zero:true');
    const node = meanNs('Buffer.allocUnsafeSlow');
    rows.push({
      size: formatSize(size),
      'C posix_memalign µs': (cNs / 1e3).toFixed(1),
      'HostBuffer µs': (ours / 1e3).toFixed(1),
      'ratio vs C': (ours / cNs).toFixed(2),
      'C +memset0 µs': (cZeroNs / 1e3).toFixed(1),
      'HostBuffer zero µs': (oursZero / 1e3).toFixed(1),
      'zero ratio vs C': (oursZero / cZeroNs).toFixed(2),
      'allocUnsafeSlow µs': Number.isNaN(node) ? '-' : (node / 1e3).toFixed(1),
      'ratio vs allocUnsafeSlow': Number.isNaN(node) ? '-' : (ours / node).toFixed(2),
    });
  }
  console.table(rows);
  console.log('Goal: "ratio vs C" <= 1.20 from 1 MiB up. Views are zero-copy (zeroCopy: true).');
}
