/**
 * The direct-I/O benchmark: this package's engine against fio (the hardware's ceiling, same
 * file, direct=1, best of psync / libaio / io_uring at the same depth) and against Node's
 * fs.promises, measured in the same run in A B B A order because the disk is noisy. Used by
 * `bench/direct-io.ts` and by `dynamo-memory bench`.
 */
import { open as openNode, rm, writeFile as writeNodeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { openFile } from './direct-file.js';
import { checkOptionKeys, invalidArgument } from './errors.js';
import { allocate, type HostBuffer } from './host-buffer.js';
import { fioRandom, fioRun, hasFio } from './direct-io-fio.js';
import { ioSettings } from './io-engine.js';
import { formatSize } from './size.js';

/** Options of {@link runDirectIoBenchmark}. */
export interface DirectIoBenchmarkOptions {
  /** Folder for the test file, on the disk to measure (not tmpfs). */
  directory: string;
  /** Size of the test file. Defaults to 2 GiB. */
  fileSize?: number;
  /** Request sizes for the sequential cases. Defaults to `[1 MiB, 4 MiB]`. */
  blockSizes?: number[];
  /** Requests in flight for the sequential cases. Defaults to `4`. */
  depth?: number;
  /** Queue depths for 4 KiB random reads. Defaults to `[1, 32]`. */
  randomDepths?: number[];
  /** Seconds per random-read point. Defaults to `3`. */
  seconds?: number;
  /** Which cases to run. Defaults to all: `['read', 'write', 'randread']`. */
  cases?: Array<'read' | 'write' | 'randread'>;
  /** Run fio (when installed). Defaults to `true`. */
  fio?: boolean;
}

/** One measured point. */
export interface DirectIoBenchmarkRow {
  case: 'read' | 'write' | 'randread';
  blockSize: number;
  depth: number;
  /** `dynamo`, `dynamo-batch` (one readBatch per depth), `fio-<engine>` or `node-fs`. */
  engine: string;
  /** Which A B B A pass: 1 or 2 (`node-fs` runs once). */
  pass: number;
  bytes: number;
  seconds: number;
  /** Decimal megabytes per second (1e6). */
  mbps: number;
  iops: number;
  p50us: number;
  p99us: number;
  /** CPU seconds (user + system, all threads) per 1e9 bytes; fio's from its own accounting. */
  cpuSecondsPerGB: number;
  /** p99 event-loop delay during the point, in ms (this process's engines only). */
  loopDelayP99ms?: number;
  /** Caches were dropped before a read (needs root); false means the figure may be warm. */
  cold?: boolean;
}

/** Ratios for one (case, block size, depth), medians over the passes. */
export interface DirectIoBenchmarkComparison {
  case: 'read' | 'write' | 'randread';
  blockSize: number;
  depth: number;
  /** dynamo MB/s (or IOPS) / fio's best engine, per pass, then the median. */
  vsFio?: number;
  fioEngine?: string;
  /** dynamo / node-fs. */
  vsNode?: number;
  /** The goal for vsFio in issue terms (0.9 sequential, 0.8 random at depth 32). */
  goal?: number;
}

/** Result of {@link runDirectIoBenchmark}. */
export interface DirectIoBenchmarkReport {
  environment: Record<string, string | number | boolean>;
  rows: DirectIoBenchmarkRow[];
  comparisons: DirectIoBenchmarkComparison[];
}

/** Progress of a run: `step` of `steps` done, `label` says what runs next. */
export interface DirectIoBenchmarkProgress {
  step: number;
  steps: number;
  label: string;
  row?: DirectIoBenchmarkRow;
}

/** What one engine did in one point. */
export interface Measured {
  bytes: number;
  seconds: number;
  ops: number;
  latencies: number[];
  cpuSeconds: number;
  loopDelayP99ms?: number;
  /** Percentiles computed elsewhere (fio), used instead of `latencies`. */
  percentiles?: { p50: number; p99: number };
}

/**
 * Runs the benchmark. It writes one file of `fileSize` bytes in `directory` and removes it at the
 * end. Caches are dropped before every read point when the process may (root); otherwise reads
 * after writes may be partly warm, and rows say `cold: false`.
 *
 * @returns every row, the ratios, and an environment header (kernel, filesystem, alignment).
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT` for a bad option.
 * @throws {SystemError} when the file cannot be created or written.
 */
export async function runDirectIoBenchmark(
  options: DirectIoBenchmarkOptions,
  onProgress: (progress: DirectIoBenchmarkProgress) => void = () => {},
): Promise<DirectIoBenchmarkReport> {
  // interpret options
  checkOptionKeys(
    options,
    ['directory', 'fileSize', 'blockSizes', 'depth', 'randomDepths', 'seconds', 'cases', 'fio'],
    'runDirectIoBenchmark()',
  );
  const fileSize = options.fileSize ?? 2 * 1024 ** 3;
  const blockSizes = options.blockSizes ?? [1 << 20, 4 << 20];
  const depth = options.depth ?? 4;
  const randomDepths = options.randomDepths ?? [1, 32];
  const seconds = options.seconds ?? 3;
  const cases = options.cases ?? ['read', 'write', 'randread'];
  if (!Number.isSafeInteger(fileSize) || fileSize < 64 << 20 || fileSize % (4 << 20) !== 0) {
    throw invalidArgument('options.fileSize', 'a multiple of 4 MiB from 64 MiB', fileSize);
  }
  for (const size of blockSizes) {
    if (!Number.isSafeInteger(size) || size < 4096 || size % 4096 !== 0 || fileSize % size) {
      throw invalidArgument('options.blockSizes[]', 'multiples of 4096 dividing fileSize', size);
    }
  }
  const useFio = options.fio !== false && (await hasFio());
  const filePath = path.join(path.resolve(options.directory), `.dmem-bench-${process.pid}.dat`);
  const rows: DirectIoBenchmarkRow[] = [];
  const seqPoints = cases.filter((c) => c !== 'randread').length * blockSizes.length;
  const randPoints = cases.includes('randread') ? randomDepths.length : 0;
  const steps = 1 + (seqPoints + randPoints) * (useFio ? 5 : 3);
  let step = 0;
  const progress = (label: string, row?: DirectIoBenchmarkRow) => {
    if (row) rows.push(row);
    onProgress(row ? { step: ++step, steps, label, row } : { step, steps, label });
  };

  // lay out the file once, with real data
  progress(`writing the ${formatSize(fileSize)} test file`);
  let environment: DirectIoBenchmarkReport['environment'] = {};
  try {
    environment = await describeEnvironment(filePath, fileSize);
    step++;
    for (const kind of ['write', 'read'] as const) {
      if (!cases.includes(kind)) continue;
      for (const blockSize of blockSizes) {
        const key = { case: kind, blockSize, depth };
        const ours = async (pass: number) => {
          const cold = kind === 'read' ? await dropCaches() : undefined;
          const measured = await oursSequential(filePath, kind, blockSize, depth, fileSize);
          progress(`dynamo ${kind} ${blockSize}`, rowOf(key, 'dynamo', pass, measured, cold));
        };
        const fio = async (pass: number) => {
          for (const engine of ['psync', 'libaio', 'io_uring']) {
            const cold = kind === 'read' ? await dropCaches() : undefined;
            const measured = await fioRun(filePath, kind, blockSize, depth, fileSize, engine);
            rows.push(rowOf(key, `fio-${engine}`, pass, measured, cold));
          }
          progress(`fio ${kind} ${blockSize}`);
          step++;
        };
        await ours(1);
        if (useFio) await fio(1);
        if (useFio) await fio(2);
        await ours(2);
        const cold = kind === 'read' ? await dropCaches() : undefined;
        const node = await nodeSequential(filePath, kind, blockSize, depth, fileSize);
        progress(`node-fs ${kind} ${blockSize}`, rowOf(key, 'node-fs', 1, node, cold));
      }
    }

    if (cases.includes('randread')) {
      for (const queueDepth of randomDepths) {
        const key = { case: 'randread' as const, blockSize: 4096, depth: queueDepth };
        const ours = async (pass: number) => {
          await dropCaches();
          const single = await oursRandom(filePath, fileSize, queueDepth, seconds, false);
          progress(`dynamo randread QD${queueDepth}`, rowOf(key, 'dynamo', pass, single, true));
          if (queueDepth > 1) {
            const batch = await oursRandom(filePath, fileSize, queueDepth, seconds, true);
            rows.push(rowOf(key, 'dynamo-batch', pass, batch, true));
          }
        };
        const fio = async (pass: number) => {
          const engines = queueDepth === 1 ? ['psync', 'io_uring'] : ['libaio', 'io_uring'];
          for (const engine of engines) {
            await dropCaches();
            const measured = await fioRandom(filePath, fileSize, queueDepth, seconds, engine);
            rows.push(rowOf(key, `fio-${engine}`, pass, measured, true));
          }
          progress(`fio randread QD${queueDepth}`);
          step++;
        };
        await ours(1);
        if (useFio) await fio(1);
        if (useFio) await fio(2);
        await ours(2);
        const cold = await dropCaches();
        const node = await nodeRandom(filePath, fileSize, queueDepth, seconds);
        progress(`node-fs randread QD${queueDepth}`, rowOf(key, 'node-fs', 1, node, cold));
      }
    }
  } finally {
    await rm(filePath, { force: true });
  }
  return { environment, rows, comparisons: compare(rows) };
}

function rowOf(
  key: { case: DirectIoBenchmarkRow['case']; blockSize: number; depth: number },
  engine: string,
  pass: number,
  measured: Measured,
  cold: boolean | undefined,
): DirectIoBenchmarkRow {
  const sorted = [...measured.latencies].sort((a, b) => a - b);
  const row: DirectIoBenchmarkRow = {
    ...key,
    engine,
    pass,
    bytes: measured.bytes,
    seconds: measured.seconds,
    mbps: measured.bytes / 1e6 / measured.seconds,
    iops: measured.ops / measured.seconds,
    p50us: measured.percentiles?.p50 ?? percentile(sorted, 0.5),
    p99us: measured.percentiles?.p99 ?? percentile(sorted, 0.99),
    cpuSecondsPerGB: measured.cpuSeconds / (measured.bytes / 1e9),
  };
  if (measured.loopDelayP99ms !== undefined) row.loopDelayP99ms = measured.loopDelayP99ms;
  if (cold !== undefined) row.cold = cold;
  return row;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function compare(rows: DirectIoBenchmarkRow[]): DirectIoBenchmarkComparison[] {
  const keys = new Map<string, DirectIoBenchmarkRow>();
  for (const row of rows) keys.set(`${row.case}/${row.blockSize}/${row.depth}`, row);
  const comparisons: DirectIoBenchmarkComparison[] = [];
  for (const sample of keys.values()) {
    const same = rows.filter(
      (r) => r.case === sample.case && r.blockSize === sample.blockSize && r.depth === sample.depth,
    );
    const figure = (r: DirectIoBenchmarkRow) => (r.case === 'randread' ? r.iops : r.mbps);
    const comparison: DirectIoBenchmarkComparison = {
      case: sample.case,
      blockSize: sample.blockSize,
      depth: sample.depth,
    };

    // per pass: ours against fio's best engine in that pass
    const ratios: number[] = [];
    const winners = new Map<string, number>();
    for (const pass of [1, 2]) {
      const ours = same.find((r) => r.engine === 'dynamo' && r.pass === pass);
      const fio = same.filter((r) => r.engine.startsWith('fio-') && r.pass === pass);
      if (!ours || fio.length === 0) continue;
      const best = fio.reduce((a, b) => (figure(b) > figure(a) ? b : a));
      winners.set(best.engine, (winners.get(best.engine) ?? 0) + 1);
      ratios.push(figure(ours) / figure(best));
    }
    if (ratios.length > 0) {
      comparison.vsFio = median(ratios);
      comparison.fioEngine = [...winners.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    }
    const node = same.find((r) => r.engine === 'node-fs');
    const ours = same.filter((r) => r.engine === 'dynamo');
    if (node && ours.length > 0) comparison.vsNode = median(ours.map(figure)) / figure(node);
    comparison.goal = sample.case === 'randread' ? (sample.depth >= 32 ? 0.8 : undefined) : 0.9;
    if (comparison.goal === undefined) delete comparison.goal;
    comparisons.push(comparison);
  }
  return comparisons;
}

async function describeEnvironment(filePath: string, fileSize: number) {
  // lay the file out with O_DIRECT writes of random data, then read its facts
  await using file = openFile(filePath, { create: true, truncate: true, direct: 'prefer' });
  const chunk = allocate(64 << 20, { zero: false });
  try {
    const { randomFillSync } = await import('node:crypto');
    randomFillSync(chunk.bytes);
    await file.reserve(fileSize);
    for (let at = 0; at < fileSize; at += chunk.size) {
      await file.write(chunk, at, { length: Math.min(chunk.size, fileSize - at) });
    }
    await file.datasync();
  } finally {
    chunk.free();
  }
  const settings = ioSettings();
  return {
    date: new Date().toISOString(),
    kernel: release(),
    cpus: cpus().length,
    node: process.version,
    filesystem: file.filesystem,
    direct: file.direct,
    alignmentMemory: file.alignment.memory,
    alignmentOffset: file.alignment.offset,
    alignmentSource: file.alignment.source,
    ioThreads: settings.threads,
    ioTaskSize: settings.taskSize,
    ioEngine: settings.engine,
    uvThreadpoolSize: process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)',
    fileSize,
    canDropCaches: await dropCaches(),
  };
}

let dropAllowed: boolean | undefined;

async function dropCaches(): Promise<boolean> {
  if (dropAllowed === false) return false;
  try {
    await writeNodeFile('/proc/sys/vm/drop_caches', '3');
    dropAllowed = true;
  } catch {
    dropAllowed = false;
  }
  return dropAllowed;
}

/** Measures CPU time and event-loop delay around `body`. */
async function measure(
  body: () => Promise<{ bytes: number; ops: number; latencies: number[] }>,
): Promise<Measured> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const result = await body();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  delay.disable();
  return {
    ...result,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    loopDelayP99ms: delay.percentile(99) / 1e6,
  };
}

async function oursSequential(
  filePath: string,
  kind: 'read' | 'write',
  blockSize: number,
  depth: number,
  fileSize: number,
): Promise<Measured> {
  const file = openFile(filePath, { write: kind === 'write', direct: 'prefer' });
  const buffers = Array.from({ length: depth }, () => allocate(blockSize, { zero: false }));
  try {
    return await measure(async () => {
      const latencies = await sequentialPass(buffers, fileSize, blockSize, (buffer, offset) =>
        kind === 'read' ? file.read(buffer, offset) : file.write(buffer, offset),
      );
      if (kind === 'write') await file.datasync();
      return { bytes: fileSize, ops: fileSize / blockSize, latencies };
    });
  } finally {
    await file.close();
    for (const buffer of buffers) buffer.free();
  }
}

async function oursRandom(
  filePath: string,
  fileSize: number,
  depth: number,
  seconds: number,
  batch: boolean,
): Promise<Measured> {
  const file = openFile(filePath, { direct: 'prefer' });
  const blocks = fileSize / 4096;
  const memory: HostBuffer = allocate(depth * 4096, { zero: false });
  const deadline = performance.now() + seconds * 1000;
  try {
    return await measure(async () => {
      const latencies: number[] = [];
      let ops = 0;
      const randomOffset = () => Math.floor(Math.random() * blocks) * 4096;
      if (batch) {
        // one request of `depth` reads at a time: the engine shares them among its threads
        while (performance.now() < deadline) {
          const reads = Array.from({ length: depth }, (_, i) => ({
            buffer: memory,
            offset: randomOffset(),
            bufferOffset: i * 4096,
            length: 4096,
          }));
          const t0 = performance.now();
          await file.readBatch(reads);
          const took = (performance.now() - t0) * 1000;
          for (let i = 0; i < depth; i++) latencies.push(took);
          ops += depth;
        }
      } else {
        await Promise.all(
          Array.from({ length: depth }, async (_, slot) => {
            while (performance.now() < deadline) {
              const t0 = performance.now();
              await file.read(memory, randomOffset(), { bufferOffset: slot * 4096, length: 4096 });
              latencies.push((performance.now() - t0) * 1000);
              ops++;
            }
          }),
        );
      }
      return { bytes: ops * 4096, ops, latencies };
    });
  } finally {
    await file.close();
    memory.free();
  }
}

async function nodeSequential(
  filePath: string,
  kind: 'read' | 'write',
  blockSize: number,
  depth: number,
  fileSize: number,
): Promise<Measured> {
  const handle = await openNode(filePath, kind === 'read' ? 'r' : 'r+');
  const buffers = Array.from({ length: depth }, () => Buffer.allocUnsafeSlow(blockSize).fill(7));
  try {
    return await measure(async () => {
      const latencies = await sequentialPass(buffers, fileSize, blockSize, (buffer, offset) =>
        kind === 'read'
          ? handle.read(buffer, 0, blockSize, offset)
          : handle.write(buffer, 0, blockSize, offset),
      );
      if (kind === 'write') await handle.sync();
      return { bytes: fileSize, ops: fileSize / blockSize, latencies };
    });
  } finally {
    await handle.close();
  }
}

async function nodeRandom(
  filePath: string,
  fileSize: number,
  depth: number,
  seconds: number,
): Promise<Measured> {
  const handle = await openNode(filePath, 'r');
  const blocks = fileSize / 4096;
  const deadline = performance.now() + seconds * 1000;
  try {
    return await measure(async () => {
      const latencies: number[] = [];
      let ops = 0;
      await Promise.all(
        Array.from({ length: depth }, async () => {
          const buffer = Buffer.allocUnsafeSlow(4096);
          while (performance.now() < deadline) {
            const t0 = performance.now();
            await handle.read(buffer, 0, 4096, Math.floor(Math.random() * blocks) * 4096);
            latencies.push((performance.now() - t0) * 1000);
            ops++;
          }
        }),
      );
      return { bytes: ops * 4096, ops, latencies };
    });
  } finally {
    await handle.close();
  }
}

/**
 * One sequential pass over the file with one request in flight per buffer, the same harness for
 * every engine so that only the engine differs. Returns each request's latency in µs.
 */
async function sequentialPass<B>(
  buffers: readonly B[],
  fileSize: number,
  blockSize: number,
  transfer: (buffer: B, offset: number) => Promise<unknown>,
): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    buffers.map(async (buffer) => {
      while (next < fileSize) {
        const offset = next;
        next += blockSize;
        const t0 = performance.now();
        await transfer(buffer, offset);
        latencies.push((performance.now() - t0) * 1000);
      }
    }),
  );
  return latencies;
}
