/**
 * `dynamo-memory copy SRC DST`: O_DIRECT at both ends, pipelined, into a temporary name beside
 * DST that is renamed only when every byte is written. Interrupted or failing, DST is untouched.
 */
import { chmodSync, renameSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';

import { createTempFile, type DirectFile, openFile } from '../../direct-file.js';
import { MemoryError } from '../../errors.js';
import { allocate, type HostBuffer } from '../../host-buffer.js';
import { formatSize } from '../../size.js';
import { type CommandContext, ExitCode, UsageError } from '../context.js';
import { destinationFile, directOption, regularFile, sizeOption } from '../file-checks.js';
import { byteProgress } from '../progress.js';
import type { DefineCommand } from './index.js';

/** Options of {@link copyFile}. */
export interface CopyOptions {
  blockSize: number;
  depth: number;
  direct: 'require' | 'prefer' | 'off';
  onProgress?: (done: number) => void;
  /** Checked between blocks: when it returns true the copy stops and DST is left untouched. */
  interrupted?: () => boolean;
}

/** What `copy` measured; the `--json` body. */
export interface CopyResult {
  source: string;
  destination: string;
  bytes: number;
  seconds: number;
  gbPerSecond: number;
  directRead: boolean;
  directWrite: boolean;
  blockSize: number;
  depth: number;
  reserved: 'fallocate' | 'ftruncate' | 'none';
  /** Host memory the pipeline held: depth x block size. */
  pipelineBytes: number;
}

/** The copy was stopped by a signal before it finished; DST was not created or changed. */
export class CopyInterruptedError extends MemoryError {
  override name = 'CopyInterruptedError';
}

/**
 * Copies `source` to `destination` through `depth` page-aligned buffers of `blockSize` bytes:
 * block n+1 is read while block n (and up to depth-1 before it) is written. The data goes to a
 * temporary file in DST's folder, which gets SRC's mode and is renamed over DST at the end.
 *
 * @throws {CopyInterruptedError} `ERR_DMEM_INTERRUPTED` when `interrupted()` turned true.
 * @throws {SystemError} from open, read, write or rename; the temporary file is removed.
 */
export async function copyFile(
  source: string,
  destination: string,
  options: CopyOptions,
): Promise<CopyResult> {
  const sourceStats = regularFile(source, 'SRC');
  const finalPath = destinationFile(source, sourceStats, destination);
  const input = openFile(source, { direct: options.direct });
  let output: DirectFile | undefined;
  const buffers: HostBuffer[] = [];
  let renamed = false;
  try {
    output = createTempFile(path.dirname(finalPath), { direct: options.direct });
    const size = input.size;
    const started = performance.now();
    const reserved = size > 0 ? await output.reserve(size) : 'none';

    // the pipeline: a ring of `depth` buffers, each free again once its write settled
    const alignment = Math.max(4096, input.alignment.memory, output.alignment.memory);
    const blockCount = Math.ceil(size / options.blockSize);
    const ringSize = Math.max(1, Math.min(options.depth, blockCount));
    for (let i = 0; i < ringSize && size > 0; i++) {
      buffers.push(allocate(options.blockSize, { alignment, zero: false }));
    }
    const writes: Array<Promise<number> | undefined> = new Array(ringSize);
    let done = 0;
    for (let block = 0; block < blockCount; block++) {
      const slot = block % ringSize;
      await writes[slot];
      if (options.interrupted?.()) {
        throw new CopyInterruptedError(
          'ERR_DMEM_INTERRUPTED',
          `Copy of ${source} interrupted; ${destination} was not written`,
        );
      }
      const offset = block * options.blockSize;
      const length = Math.min(options.blockSize, size - offset);
      const tail = offset + length === size;
      const got = await input.read(buffers[slot]!, offset, { length, tail });
      if (got !== length) {
        throw new MemoryError(
          'ERR_DMEM_FILE_CHANGED',
          `Expected ${length} bytes at offset ${offset} of ${source}, received ${got}: the file shrank during the copy`,
        );
      }
      const target = output;
      writes[slot] = target.write(buffers[slot]!, offset, { length, tail }).then((written) => {
        done += written;
        options.onProgress?.(done);
        return written;
      });
      // A failed write must not wait for its slot to come round again.
      writes[slot].catch(() => undefined);
    }
    await Promise.all(writes);
    if (options.interrupted?.()) {
      throw new CopyInterruptedError(
        'ERR_DMEM_INTERRUPTED',
        `Copy of ${source} interrupted; ${destination} was not written`,
      );
    }

    // publish: durable data, SRC's mode, then the atomic rename
    await output.sync();
    chmodSync(output.path, sourceStats.mode & 0o7777);
    renameSync(output.path, finalPath);
    renamed = true;
    const seconds = (performance.now() - started) / 1000;
    return {
      source,
      destination: finalPath,
      bytes: size,
      seconds,
      gbPerSecond: seconds > 0 ? size / seconds / 1e9 : 0,
      directRead: input.direct,
      directWrite: output.direct,
      blockSize: options.blockSize,
      depth: ringSize,
      reserved,
      pipelineBytes: buffers.length * options.blockSize,
    };
  } finally {
    await input.close().catch(() => undefined);
    if (output) {
      await output.close().catch(() => undefined);
      if (!renamed) {
        try {
          unlinkSync(output.path);
        } catch {
          // already gone
        }
      }
    }
    for (const buffer of buffers) buffer.free();
  }
}

async function copy(
  context: CommandContext,
  args: string[],
  options: Record<string, unknown>,
): Promise<number> {
  const [source, destination] = args as [string, string];
  const blockSize = sizeOption('--block-size', options.blockSize ?? '4MiB', 4096);
  if (blockSize % 4096 !== 0 || blockSize > 1 << 30) {
    throw new UsageError(
      'ERR_DMEM_INVALID_SIZE',
      `Expected --block-size to be a multiple of 4096 up to 1GiB, received ${String(options.blockSize)}`,
    );
  }
  const depth = Number(options.depth ?? 4);
  if (!Number.isInteger(depth) || depth < 1 || depth > 64) {
    throw new UsageError(
      'ERR_DMEM_INVALID_ARGUMENT',
      `Expected --depth to be an integer from 1 to 64, received ${JSON.stringify(options.depth)}`,
    );
  }
  const direct = directOption(options.direct ?? 'prefer');

  // stop between blocks on SIGINT/SIGTERM; the temporary file is removed on the way out
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    signalled = signal;
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const size = statSync(source).size;
  const progress = byteProgress(context, 'copy', size);
  try {
    const result = await copyFile(source, destination, {
      blockSize,
      depth,
      direct,
      onProgress: (done) => progress.update(done),
      interrupted: () => signalled !== undefined,
    });
    progress.stop();
    if (context.json) {
      context.printJson('dynamo-memory/copy', 1, { ok: true, ...result });
    } else {
      const how = `${result.directRead ? 'O_DIRECT' : 'buffered'} read, ${result.directWrite ? 'O_DIRECT' : 'buffered'} write`;
      context.print(
        `${result.source} -> ${result.destination}: ${result.bytes} bytes (${formatSize(result.bytes)}) in ${result.seconds.toFixed(3)} s, ${result.gbPerSecond.toFixed(2)} GB/s, ${how}, ${result.depth} x ${formatSize(result.blockSize)} blocks`,
      );
    }
    return ExitCode.ok;
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

export const defineCopy: DefineCommand = (program, wrap) => {
  program
    .command('copy')
    .description(
      'copy SRC to DST with O_DIRECT at both ends, pipelined; DST appears only when complete',
    )
    .argument('<SRC>', 'the file to copy')
    .argument('<DST>', 'the new file (replaced atomically if it exists)')
    .option('--block-size <size>', 'bytes per block, a multiple of 4096 (e.g. 1MiB)', '4MiB')
    .option('--depth <n>', 'blocks in flight (memory held = depth x block size)', '4')
    .option('--direct <mode>', 'require | prefer | off', 'prefer')
    .action(wrap('copy', copy));
};
