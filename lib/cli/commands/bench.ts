/** `dynamo-memory bench`: the data-path benchmark, for users to run on their own disks. */
import { writeFileSync } from 'node:fs';

import { SingleBar } from 'cli-progress';

import {
  type DirectIoBenchmarkOptions,
  type DirectIoBenchmarkRow,
  runDirectIoBenchmark,
} from '../../direct-io-bench.js';
import { formatSize } from '../../size.js';
import { throughputChart } from '../bench-chart.js';
import { type CommandContext, ExitCode, UsageError } from '../context.js';
import { existingDirectory, sizeOption } from '../file-checks.js';
import type { DefineCommand } from './index.js';

const knownCases = ['read', 'write', 'randread'] as const;

function parseCases(value: unknown): DirectIoBenchmarkOptions['cases'] {
  const cases = String(value).split(',');
  for (const name of cases) {
    if (!(knownCases as readonly string[]).includes(name)) {
      throw new UsageError(
        'ERR_DMEM_INVALID_ARGUMENT',
        `Expected --cases to list read, write, randread, received ${JSON.stringify(value)}`,
      );
    }
  }
  return cases as DirectIoBenchmarkOptions['cases'];
}

function positiveNumber(name: string, value: unknown): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new UsageError(
      'ERR_DMEM_INVALID_ARGUMENT',
      `Expected ${name} to be a positive number, received ${JSON.stringify(value)}`,
    );
  }
  return number;
}

function rowLine(row: DirectIoBenchmarkRow): string {
  const cells = [
    row.case.padEnd(9),
    formatSize(row.blockSize).padEnd(8),
    String(row.depth).padEnd(6),
    row.engine.padEnd(14),
    row.mbps.toFixed(0).padStart(7),
    row.iops.toFixed(0).padStart(9),
    row.p50us.toFixed(0).padStart(8),
    row.p99us.toFixed(0).padStart(8),
  ];
  return cells.join(' ');
}

async function bench(
  context: CommandContext,
  _args: string[],
  options: Record<string, unknown>,
): Promise<number> {
  const directory = existingDirectory('--dir', String(options.dir ?? process.cwd()));
  const benchOptions: DirectIoBenchmarkOptions = { directory };
  if (options.size !== undefined) {
    const fileSize = sizeOption('--size', options.size, 64 << 20);
    if (fileSize % (4 << 20) !== 0) {
      throw new UsageError(
        'ERR_DMEM_INVALID_SIZE',
        `Expected --size to be a multiple of 4MiB from 64MiB, received ${String(options.size)}`,
      );
    }
    benchOptions.fileSize = fileSize;
  }
  if (options.seconds !== undefined)
    benchOptions.seconds = positiveNumber('--seconds', options.seconds);
  if (options.cases !== undefined) benchOptions.cases = parseCases(options.cases);
  if (options.fio === false) benchOptions.fio = false;

  // a progress bar on a terminal, silent when piped
  const stream = context.io.stderr;
  const bar =
    stream.isTTY && !context.json
      ? new SingleBar({
          stream,
          format: 'bench [{bar}] {value}/{total} {label}',
          clearOnComplete: true,
        })
      : undefined;
  let started = false;
  const report = await runDirectIoBenchmark(benchOptions, ({ step, steps, label }) => {
    if (!bar) return;
    if (!started) {
      bar.start(steps, 0, { label });
      started = true;
    }
    bar.update(step, { label });
  });
  bar?.stop();

  if (typeof options.svg === 'string') {
    writeFileSync(
      options.svg,
      throughputChart(report.rows, `dynamo-memory bench: ${benchOptions.directory}`),
    );
  }
  if (context.json) {
    context.printJson('dynamo-memory/bench', 1, { ok: true, ...report });
    return ExitCode.ok;
  }
  context.print(
    [
      'case     ',
      'bs      ',
      'depth ',
      'engine        ',
      '   MB/s',
      '     IOPS',
      '  p50 µs',
      '  p99 µs',
    ].join(' '),
  );
  for (const row of report.rows) context.print(rowLine(row));
  context.print();
  context.print('ratios (median over passes):');
  for (const c of report.comparisons) {
    const goal = c.goal === undefined ? '' : ` (goal ${c.goal}x)`;
    context.print(
      `  ${c.case} ${formatSize(c.blockSize)} depth ${c.depth}: vs fio ${c.vsFio?.toFixed(2) ?? '-'}x` +
        ` [${c.fioEngine ?? '-'}]${goal}, vs node fs ${c.vsNode?.toFixed(2) ?? '-'}x`,
    );
  }
  if (typeof options.svg === 'string') context.print(`chart written to ${options.svg}`);
  return ExitCode.ok;
}

export const defineBench: DefineCommand = (program, wrap) => {
  program
    .command('bench')
    .description('benchmark O_DIRECT reads and writes in DIR against fio and Node fs, in one run')
    .option('--dir <DIR>', 'where the test file goes, on the disk to measure (default: .)')
    .option('--size <SIZE>', 'test file size, a multiple of 4MiB from 64MiB (default 2GiB)')
    .option('--seconds <s>', 'seconds per random-read point (default 3)')
    .option('--cases <list>', 'read,write,randread (default: all)')
    .option('--no-fio', 'skip the fio baseline')
    .option('--svg <FILE>', 'also write an SVG chart of throughput by request size')
    .action(wrap('bench', bench));
};
