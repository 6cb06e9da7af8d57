/** `dynamo-memory info [--dir DIR]`: what this machine offers the data path. */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import { cudaDevices, cudaStatus } from '../../cuda/index.js';
import { nixlStatus } from '../../nixl/index.js';
import { createTempFile } from '../../direct-file.js';
import { allocate, pageSize } from '../../host-buffer.js';
import { ioSettings } from '../../io-engine.js';
import { formatSize } from '../../size.js';
import { type CommandContext, ExitCode } from '../context.js';
import { existingDirectory } from '../file-checks.js';
import type { DefineCommand } from './index.js';

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The memlock limit from /proc/self/limits, in bytes or 'unlimited'. */
function memlockLimit(): { soft: number | 'unlimited'; hard: number | 'unlimited' } | undefined {
  const line = readText('/proc/self/limits')
    ?.split('\n')
    .find((l) => l.startsWith('Max locked memory'));
  const match = line && /^Max locked memory\s+(\S+)\s+(\S+)/.exec(line);
  if (!match) return undefined;
  const value = (text: string) => (text === 'unlimited' ? 'unlimited' : Number(text));
  return { soft: value(match[1]!), hard: value(match[2]!) };
}

function hasIpcLock(): boolean | undefined {
  const line = readText('/proc/self/status')
    ?.split('\n')
    .find((l) => l.startsWith('CapEff:'));
  return line ? (BigInt(`0x${line.split(/\s+/)[1]}`) & (1n << 14n)) !== 0n : undefined;
}

function hugePages() {
  const meminfo = readText('/proc/meminfo') ?? '';
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1] ?? NaN);
  const mode = (file: string) => /\[(\w+)\]/.exec(readText(file) ?? '')?.[1] ?? 'unknown';
  return {
    transparent: mode('/sys/kernel/mm/transparent_hugepage/enabled'),
    transparentDefrag: mode('/sys/kernel/mm/transparent_hugepage/defrag'),
    hugetlbPageSize: field('Hugepagesize') * 1024,
    hugetlbTotal: field('HugePages_Total'),
    hugetlbFree: field('HugePages_Free'),
  };
}

/** The filesystem and O_DIRECT facts of a directory, probed with an unlinked temporary file. */
async function directoryFacts(dir: string) {
  try {
    const file = createTempFile(dir, { unlink: true, direct: 'prefer' });
    try {
      return {
        path: dir,
        filesystem: file.filesystem,
        direct: file.direct,
        alignment: { ...file.alignment },
        fallbackReason: file.fallbackReason,
        error: undefined,
      };
    } finally {
      await file.close();
    }
  } catch (error) {
    return {
      path: dir,
      error: {
        code: (error as { code?: string }).code ?? 'ERR_DMEM_INTERNAL',
        message: (error as Error).message,
      },
    };
  }
}

/** Gathers what `info` prints; never throws for a missing facility, it reports it. */
export async function gatherInfo(dir: string) {
  const probe = allocate(1);
  const zeroCopy = probe.zeroCopy;
  probe.free();
  return {
    node: process.version,
    cpus: availableParallelism(),
    pageSize: pageSize(),
    hugePages: hugePages(),
    memlock: memlockLimit(),
    capIpcLock: hasIpcLock(),
    zeroCopyBuffers: zeroCopy,
    ioEngine: ioSettings(),
    directory: await directoryFacts(dir),
    cuda: { status: cudaStatus(), devices: cudaDevices() },
    nixl: nixlStatus(),
  };
}

async function info(
  context: CommandContext,
  _args: string[],
  options: Record<string, unknown>,
): Promise<number> {
  const facts = await gatherInfo(existingDirectory('--dir', String(options.dir ?? process.cwd())));
  if (context.json) {
    context.printJson('dynamo-memory/info', 1, { ok: true, ...facts });
    return ExitCode.ok;
  }
  const limit = (value: number | 'unlimited' | undefined) =>
    typeof value === 'number' ? formatSize(value) : String(value);
  context.print(`node ${facts.node}, ${facts.cpus} CPUs, page size ${facts.pageSize}`);
  context.print(
    `huge pages: transparent ${facts.hugePages.transparent}, hugetlb ${facts.hugePages.hugetlbFree}/${facts.hugePages.hugetlbTotal} free of ${formatSize(facts.hugePages.hugetlbPageSize)}`,
  );
  context.print(
    `memlock limit: soft ${limit(facts.memlock?.soft)}, hard ${limit(facts.memlock?.hard)}; CAP_IPC_LOCK ${facts.capIpcLock ? 'yes' : 'no'}`,
  );
  context.print(
    `host buffers: ${facts.zeroCopyBuffers ? 'zero-copy' : 'V8-owned fallback (no external buffers)'}`,
  );
  context.print(
    `I/O engine: ${facts.ioEngine.threads} threads, ${formatSize(facts.ioEngine.taskSize)} tasks`,
  );
  const dir = facts.directory;
  if (dir.error !== undefined) {
    context.print(`${dir.path}: cannot probe (${dir.error.code}: ${dir.error.message})`);
  } else {
    context.print(
      `${dir.path}: ${dir.filesystem}, ${dir.direct ? `O_DIRECT, alignment memory ${dir.alignment.memory} / offset ${dir.alignment.offset} (${dir.alignment.source})` : `no O_DIRECT (${dir.fallbackReason ?? 'refused'})`}`,
    );
  }
  const { status, devices } = facts.cuda;
  context.print(
    `CUDA: ${status.available ? `${devices.length} device(s), driver ${status.driverVersion}` : `unavailable (${status.reason}): ${status.message}`}`,
  );
  for (const device of devices) {
    context.print(
      `  cuda:${device.ordinal} ${device.name} (sm ${device.computeCapability}, ${formatSize(device.totalMemory)}, ${device.pciBusId}, NUMA ${device.numaNode ?? 'unknown'})`,
    );
  }
  const nixl = facts.nixl;
  context.print(
    nixl.usable
      ? `NIXL: usable (${nixl.library}), plugins ${nixl.plugins.join(', ') || 'none'}`
      : `NIXL: ${nixl.state}${nixl.reason ? ` (${nixl.reason})` : ''}`,
  );
  return ExitCode.ok;
}

export const defineInfo: DefineCommand = (program, wrap) => {
  program
    .command('info')
    .description('what this machine offers the data path: pages, limits, filesystem and alignment')
    .option('--dir <DIR>', 'the data directory to probe (default: the current directory)')
    .action(wrap('info', info));
};
