/**
 * Direct I/O: sequential read and write of a 2 GiB file with 1 MiB and 4 MiB requests (4 in
 * flight), and 4 KiB random reads at queue depth 1 and 32, against fio (same file, direct=1,
 * best of psync / libaio / io_uring) and Node's fs.promises, in one run, A B B A.
 * Goals: sequential >= 0.9x fio; random QD32 >= 0.8x fio; cold sequential read >= 1.5x Node.
 *
 *   npm run bench -- direct-io [directory] [--size=2G] [--seconds=3] [--cases=read,write,randread]
 *
 * The directory defaults to the current one and must be on the disk to measure (not tmpfs).
 * Run as root so that caches can be dropped before every read.
 */
import {
  runDirectIoBenchmark,
  type DirectIoBenchmarkOptions,
  type DirectIoBenchmarkRow,
} from '../lib/direct-io-bench.js';
import { formatSize, parseSize } from '../lib/size.js';

export async function run(args: string[]): Promise<void> {
  const options: DirectIoBenchmarkOptions = { directory: process.cwd() };
  for (const arg of args) {
    const [key, value = ''] = arg.split('=');
    if (key === '--size') options.fileSize = parseSize(value);
    else if (key === '--seconds') options.seconds = Number(value);
    else if (key === '--depth') options.depth = Number(value);
    else if (key === '--cases')
      options.cases = value.split(',') as DirectIoBenchmarkOptions['cases'];
    else if (key === '--no-fio') options.fio = false;
    else options.directory = arg;
  }

  const report = await runDirectIoBenchmark(options, ({ step, steps, label }) => {
    process.stderr.write(`[${step}/${steps}] ${label}\n`);
  });

  console.log(JSON.stringify({ environment: report.environment }));
  console.log();
  console.log(
    pad('case', 9) +
      pad('bs', 8) +
      pad('depth', 6) +
      pad('engine', 14) +
      pad('pass', 5) +
      pad('MB/s', 9) +
      pad('IOPS', 9) +
      pad('p50 µs', 9) +
      pad('p99 µs', 9) +
      pad('cpu s/GB', 9) +
      pad('loop p99', 9) +
      'cold',
  );
  for (const row of report.rows) console.log(format(row));
  console.log();
  console.log('ratios (median over passes; MB/s for sequential, IOPS for random):');
  for (const c of report.comparisons) {
    const goal = c.goal === undefined ? '' : ` (goal ${c.goal}x)`;
    console.log(
      `  ${c.case} ${formatSize(c.blockSize)} depth ${c.depth}: ` +
        `vs fio ${c.vsFio?.toFixed(2) ?? '-'}x [${c.fioEngine ?? '-'}]${goal}, ` +
        `vs node fs ${c.vsNode?.toFixed(2) ?? '-'}x`,
    );
  }
}

function format(row: DirectIoBenchmarkRow): string {
  return (
    pad(row.case, 9) +
    pad(formatSize(row.blockSize), 8) +
    pad(String(row.depth), 6) +
    pad(row.engine, 14) +
    pad(String(row.pass), 5) +
    pad(row.mbps.toFixed(0), 9) +
    pad(row.iops.toFixed(0), 9) +
    pad(row.p50us.toFixed(0), 9) +
    pad(row.p99us.toFixed(0), 9) +
    pad(row.cpuSecondsPerGB.toFixed(3), 9) +
    pad(row.loopDelayP99ms === undefined ? '-' : row.loopDelayP99ms.toFixed(1), 9) +
    (row.cold === undefined ? '-' : String(row.cold))
  );
}

function pad(text: string, width: number): string {
  return text.padEnd(width);
}
