/** `dynamo-memory load FILE`: read a file with O_DIRECT into page-aligned host memory. */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';

import { copyFromDevice, type DeviceBuffer, loadFileToDevice } from '../../cuda/index.js';
import { openFile } from '../../direct-file.js';
import { MemoryError } from '../../errors.js';
import { allocate, type HostBuffer } from '../../host-buffer.js';
import { formatSize } from '../../size.js';
import { type CommandContext, ExitCode, UsageError } from '../context.js';
import { directOption, regularFile } from '../file-checks.js';
import { byteProgress } from '../progress.js';
import type { DefineCommand } from './index.js';

/** Each host buffer holds at most this much, so every JS view stays far below Node's limit. */
const segmentSize = 1 << 30;
/** One read request; the I/O engine splits it into tasks that run on all its threads. */
const requestSize = 64 << 20;
const requestsInFlight = 4;

/** What `load` measured; the `--json` body. */
export interface LoadResult {
  file: string;
  bytes: number;
  seconds: number;
  gbPerSecond: number;
  direct: boolean;
  filesystem: string;
  alignment: { memory: number; offset: number; source: string };
  fallbackReason?: string;
  sha256?: string;
  verify?: {
    algorithm: 'sha256';
    reference: 'buffered-read';
    referenceSha256: string;
    match: boolean;
  };
  /** Where the data went: `host`, or `cuda:N` with `--to`. */
  target: string;
  /** With `--to cuda:N`: whether the staging buffers were pinned. */
  pinnedStaging?: boolean;
}

/**
 * Loads a whole file into host buffers of at most 1 GiB each, with up to four 64 MiB reads in
 * flight, and returns the buffers (the caller frees them) with the timing.
 */
export async function loadIntoHostMemory(
  filePath: string,
  direct: 'require' | 'prefer' | 'off',
  onProgress: (done: number) => void = () => undefined,
): Promise<{ segments: HostBuffer[]; result: LoadResult }> {
  const file = openFile(filePath, { direct });
  const segments: HostBuffer[] = [];
  try {
    const size = file.size;
    const alignment = Math.max(4096, file.alignment.memory);
    const started = performance.now();

    // allocate the segments, then read every request of every segment
    for (let offset = 0; offset < size; offset += segmentSize) {
      segments.push(allocate(Math.min(segmentSize, size - offset), { alignment, zero: false }));
    }
    const requests: Array<{
      segment: HostBuffer;
      bufferOffset: number;
      offset: number;
      length: number;
    }> = [];
    segments.forEach((segment, index) => {
      for (let bufferOffset = 0; bufferOffset < segment.size; bufferOffset += requestSize) {
        const length = Math.min(requestSize, segment.size - bufferOffset);
        requests.push({
          segment,
          bufferOffset,
          offset: index * segmentSize + bufferOffset,
          length,
        });
      }
    });
    let done = 0;
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const request = requests[next++]!;
        const tail = request.offset + request.length === size;
        const got = await file.read(request.segment, request.offset, {
          bufferOffset: request.bufferOffset,
          length: request.length,
          tail,
        });
        if (got !== request.length) {
          throw new MemoryError(
            'ERR_DMEM_FILE_CHANGED',
            `Expected ${request.length} bytes at offset ${request.offset} of ${filePath}, ` +
              `received ${got}: the file shrank while it was loaded`,
          );
        }
        done += got;
        onProgress(done);
      }
    };
    await Promise.all(Array.from({ length: requestsInFlight }, worker));
    const seconds = (performance.now() - started) / 1000;

    const result: LoadResult = {
      file: filePath,
      bytes: size,
      seconds,
      gbPerSecond: seconds > 0 ? size / seconds / 1e9 : 0,
      direct: file.direct,
      filesystem: file.filesystem,
      alignment: { ...file.alignment },
      target: 'host',
    };
    if (file.fallbackReason !== undefined) result.fallbackReason = file.fallbackReason;
    return { segments, result };
  } catch (failure) {
    for (const segment of segments) segment.free();
    throw failure;
  } finally {
    await file.close();
  }
}

/** Parses `--to`: `host` or `cuda:N`. */
function parseTarget(value: unknown): { kind: 'host' } | { kind: 'cuda'; device: number } {
  const text = String(value ?? 'host');
  if (text === 'host') return { kind: 'host' };
  const match = /^cuda:(\d+)$/.exec(text);
  if (!match) {
    throw new UsageError(
      'ERR_DMEM_INVALID_ARGUMENT',
      `Expected --to to be host or cuda:N (N a device ordinal), received ${JSON.stringify(text)}`,
    );
  }
  return { kind: 'cuda', device: Number(match[1]) };
}

/** SHA-256 of device memory, copied back through one host buffer 64 MiB at a time. */
async function deviceSha256(buffer: DeviceBuffer, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const chunk = allocate(Math.max(1, Math.min(bytes, requestSize)), { zero: false });
  try {
    for (let offset = 0; offset < bytes; offset += chunk.size) {
      const length = Math.min(chunk.size, bytes - offset);
      await copyFromDevice(chunk, buffer, { sourceOffset: offset, length });
      hash.update(chunk.bytes.subarray(0, length));
    }
  } finally {
    chunk.free();
  }
  return hash.digest('hex');
}

/** Loads a file into device memory with O_DIRECT through pinned staging buffers. */
async function loadToDevice(
  filePath: string,
  device: number,
  direct: 'require' | 'prefer' | 'off',
  verify: boolean,
  onProgress: (done: number) => void,
): Promise<LoadResult> {
  const file = openFile(filePath, { direct });
  const facts = {
    direct: file.direct,
    filesystem: file.filesystem,
    alignment: { ...file.alignment },
  };
  await file.close();
  const started = performance.now();
  const loaded = await loadFileToDevice(filePath, {
    device,
    direct,
    onProgress: (done) => onProgress(done),
  });
  const seconds = (performance.now() - started) / 1000;
  try {
    const result: LoadResult = {
      file: filePath,
      bytes: loaded.bytes,
      seconds,
      gbPerSecond: seconds > 0 ? loaded.bytes / seconds / 1e9 : 0,
      ...facts,
      direct: loaded.direct,
      target: `cuda:${device}`,
      pinnedStaging: loaded.pinned,
    };
    if (verify) result.sha256 = await deviceSha256(loaded.buffer, loaded.bytes);
    return result;
  } finally {
    loaded.buffer.free();
  }
}

/**
 * Pseudo-files (/proc, /sys) report size 0 yet have content; loading them would silently give 0
 * bytes, so a file of size 0 is checked for a first byte.
 *
 * @throws {MemoryError} `ERR_DMEM_UNSIZED_FILE` when it has one.
 */
function refuseUnsizedContent(filePath: string): void {
  const fd = openSync(filePath, 'r');
  try {
    if (readSync(fd, Buffer.alloc(1), 0, 1, 0) === 0) return;
  } finally {
    closeSync(fd);
  }
  throw new MemoryError(
    'ERR_DMEM_UNSIZED_FILE',
    `${filePath} reports a size of 0 but has content (a pseudo-file such as those in /proc or ` +
      '/sys): load reads files whose size is known; nothing was loaded',
  );
}

async function bufferedSha256(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath, { highWaterMark: 4 << 20 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

async function load(
  context: CommandContext,
  args: string[],
  options: Record<string, unknown>,
): Promise<number> {
  const [filePath] = args as [string];
  const direct = directOption(options.direct ?? 'prefer');
  const verify = (options.verify as string | undefined)?.toLowerCase();
  if (verify !== undefined && verify !== 'sha256') {
    throw new UsageError(
      'ERR_DMEM_INVALID_ARGUMENT',
      `Expected --verify to be sha256, received ${JSON.stringify(verify)}`,
    );
  }
  const target = parseTarget(options.to);
  const size = regularFile(filePath, 'FILE').size;
  if (size === 0) refuseUnsizedContent(filePath);

  // load, with a progress bar on a terminal
  const progress = byteProgress(context, 'load', size);
  let result: LoadResult;
  if (target.kind === 'cuda') {
    try {
      result = await loadToDevice(filePath, target.device, direct, verify === 'sha256', (done) =>
        progress.update(done),
      );
    } finally {
      progress.stop();
    }
  } else {
    const loaded = await loadIntoHostMemory(filePath, direct, (done) => progress.update(done));
    progress.stop();
    result = loaded.result;
    try {
      if (verify === 'sha256') {
        const hash = createHash('sha256');
        for (const segment of loaded.segments) hash.update(segment.bytes);
        result.sha256 = hash.digest('hex');
      }
    } finally {
      for (const segment of loaded.segments) segment.free();
    }
  }

  // verify against a plain buffered read
  if (verify === 'sha256') {
    const referenceSha256 = await bufferedSha256(filePath);
    result.verify = {
      algorithm: 'sha256',
      reference: 'buffered-read',
      referenceSha256,
      match: referenceSha256 === result.sha256,
    };
  }

  // report
  if (context.json) {
    context.printJson('dynamo-memory/load', 1, { ok: result.verify?.match !== false, ...result });
  } else {
    const how = result.direct
      ? `O_DIRECT (${result.filesystem}, alignment ${result.alignment.memory}/${result.alignment.offset} from ${result.alignment.source})`
      : `buffered (${result.fallbackReason ?? `--direct ${direct}`})`;
    const into =
      result.target === 'host'
        ? ''
        : ` into ${result.target} (${result.pinnedStaging ? 'pinned' : 'pageable'} staging)`;
    context.print(
      `${result.file}: ${result.bytes} bytes (${formatSize(result.bytes)}) in ${result.seconds.toFixed(3)} s, ${result.gbPerSecond.toFixed(2)} GB/s, ${how}${into}`,
    );
    if (result.verify) {
      context.print(
        `sha256 ${result.sha256} ${result.verify.match ? 'matches' : 'DOES NOT MATCH'} a buffered read (${result.verify.referenceSha256})`,
      );
    }
  }
  if (result.verify && !result.verify.match) {
    context.warn(
      `dynamo-memory load: ERR_DMEM_VERIFY_MISMATCH: what was loaded differs from a buffered read of ${filePath}`,
    );
    return ExitCode.failure;
  }
  return ExitCode.ok;
}

export const defineLoad: DefineCommand = (program, wrap) => {
  program
    .command('load')
    .description('read FILE with O_DIRECT into page-aligned host memory and report the rate')
    .argument('<FILE>', 'the file to load (any size)')
    .option('--verify <algorithm>', 'check what was loaded against a buffered read (sha256)')
    .option('--direct <mode>', 'require | prefer | off', 'prefer')
    .option('--to <target>', 'host (default) or cuda:N: load into device memory of GPU N')
    .action(wrap('load', load));
};
