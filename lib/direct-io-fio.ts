/**
 * fio as the benchmark's reference: the same file, direct=1, one engine per call, parsed from
 * its JSON output. Used by lib/direct-io-bench.ts.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import type { Measured } from './direct-io-bench.js';

const run = promisify(execFile);

/** True when `fio` runs here. */
export async function hasFio(): Promise<boolean> {
  try {
    await run('fio', ['--version']);
    return true;
  } catch {
    return false;
  }
}

interface FioJob {
  job_runtime: number;
  usr_cpu: number;
  sys_cpu: number;
  read: FioSide;
  write: FioSide;
}
interface FioSide {
  io_bytes: number;
  total_ios: number;
  runtime: number;
  clat_ns: { percentile?: Record<string, number> };
}

async function fio(args: string[]): Promise<Measured> {
  const { stdout } = await run('fio', [...args, '--output-format=json', '--group_reporting'], {
    maxBuffer: 64 << 20,
  });
  const job = (JSON.parse(stdout) as { jobs: FioJob[] }).jobs[0]!;
  const side = job.read.io_bytes > 0 ? job.read : job.write;
  const seconds = side.runtime / 1000;
  const percentiles = side.clat_ns.percentile ?? {};
  return {
    bytes: side.io_bytes,
    seconds,
    ops: side.total_ios,
    latencies: [],
    percentiles: {
      p50: (percentiles['50.000000'] ?? 0) / 1000,
      p99: (percentiles['99.000000'] ?? 0) / 1000,
    },
    cpuSeconds: ((job.usr_cpu + job.sys_cpu) / 100) * (job.job_runtime / 1000),
  };
}

function fioSequential(engine: string, depth: number, fileSize: number): string[] {
  // psync gets its concurrency from jobs, each on its own slice; async engines from iodepth
  return engine === 'psync'
    ? [`--numjobs=${depth}`, `--size=${fileSize / depth}`, `--offset_increment=${fileSize / depth}`]
    : [`--iodepth=${depth}`, `--size=${fileSize}`];
}

/** A sequential read or write of the whole file; psync gets its depth from jobs. */
export async function fioRun(
  filePath: string,
  kind: 'read' | 'write',
  blockSize: number,
  depth: number,
  fileSize: number,
  engine: string,
): Promise<Measured> {
  return fio([
    '--name=seq',
    `--filename=${filePath}`,
    '--direct=1',
    `--rw=${kind}`,
    `--bs=${blockSize}`,
    `--ioengine=${engine}`,
    ...fioSequential(engine, depth, fileSize),
    ...(kind === 'write' ? ['--end_fsync=1'] : []),
  ]);
}

/** 4 KiB random reads for `seconds` at queue depth `depth`. */
export async function fioRandom(
  filePath: string,
  fileSize: number,
  depth: number,
  seconds: number,
  engine: string,
): Promise<Measured> {
  return fio([
    '--name=rand',
    `--filename=${filePath}`,
    '--direct=1',
    '--rw=randread',
    '--bs=4k',
    `--ioengine=${engine}`,
    `--size=${fileSize}`,
    ...(engine === 'psync' ? [`--numjobs=${depth}`] : [`--iodepth=${depth}`]),
    '--time_based',
    `--runtime=${seconds}`,
    '--norandommap',
    '--randrepeat=0',
  ]);
}
