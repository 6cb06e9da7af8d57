/**
 * Loading a file straight into device memory: O_DIRECT reads into two pinned staging buffers,
 * each copied to the device while the next chunk is read. See docs/cuda.md.
 */
import { type DirectMode, openFile } from '../direct-file.js';
import { debug } from '../debug.js';
import {
  checkOptionKeys,
  CudaError,
  InvalidArgumentError,
  invalidArgument,
  MemoryError,
} from '../errors.js';
import { allocate, type HostBuffer } from '../host-buffer.js';

import { copyToDevice } from './copy.js';
import { allocateDevice, DeviceBuffer } from './device-buffer.js';
import { pinHostBuffer } from './pinned.js';
import { requireCuda } from './status.js';

/** Options of {@link loadFileToDevice}. */
export interface LoadFileOptions {
  /** CUDA ordinal of the device to load into. Defaults to `0` (or `into.device`). */
  device?: number;
  /**
   * Load into this buffer, at `destinationOffset`, instead of a new one. Defaults to a new buffer
   * of the loaded length.
   */
  into?: DeviceBuffer;
  /** Byte offset in `into`. Defaults to `0`. */
  destinationOffset?: number;
  /** Start in the file; a multiple of the file's O_DIRECT alignment. Defaults to `0`. */
  offset?: number;
  /** Bytes to load. Defaults to the rest of the file after `offset`. */
  length?: number;
  /**
   * Bytes per read and per staging buffer: a multiple of 4096 from 64 KiB to
   * 1 GiB. Defaults to 16 MiB.
   */
  chunkSize?: number;
  /**
   * Staging buffers, from 2 to 16: one is copied to the device while the others are read into,
   * so `depth - 1` reads stay in flight (disks need more than one to reach their rate). Defaults
   * to `4`.
   */
  depth?: number;
  /** As for openFile(): `'require'`, `'prefer'` or `'off'`. Defaults to `'prefer'`. */
  direct?: DirectMode;
  /** Called after each chunk reached the device, with the bytes loaded so far and the total. */
  onProgress?: (loaded: number, total: number) => void;
}

/** What {@link loadFileToDevice} did. */
export interface LoadFileResult {
  /** The device memory holding the data (`into` when given, else a new buffer to free). */
  buffer: DeviceBuffer;
  /** Bytes loaded. */
  bytes: number;
  /** Whether the reads bypassed the page cache (false after a `'prefer'` fallback). */
  direct: boolean;
  /**
   * Whether the staging buffers were pinned. False when the driver refused to pin them (one
   * warning, `DMEM_CUDA_PIN_FAILED`): the load then copies from pageable memory, more slowly.
   */
  pinned: boolean;
  /** Bytes per chunk used. */
  chunkSize: number;
  /** Staging buffers used. */
  depth: number;
}

const loadKeys = [
  'device',
  'into',
  'destinationOffset',
  'offset',
  'length',
  'chunkSize',
  'depth',
  'direct',
  'onProgress',
] as const;

/**
 * Reads `filePath` into device memory through pinned staging buffers with O_DIRECT: while one
 * chunk is copied to the device, the next ones are read from disk, so the load runs at the speed
 * of the slower of the two. The event loop is never blocked.
 *
 * @example
 * const { buffer, bytes } = await loadFileToDevice('/models/weights.bin', { device: 0 });
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT`, `ERR_DMEM_UNKNOWN_OPTION`,
 *   `ERR_DMEM_OUT_OF_BOUNDS` (the range does not fit in `into` or in the file).
 * @throws {AlignmentError} `ERR_DMEM_ALIGNMENT` when `offset` breaks the file's alignment.
 * @throws {DirectIoUnsupportedError} with `direct: 'require'` where O_DIRECT is refused.
 * @throws {SystemError} from open or pread, with `path`.
 * @throws {MemoryError} `ERR_DMEM_SHORT_READ` when the file shrank during the load.
 * @throws {CudaUnavailableError} `ERR_DMEM_CUDA_UNAVAILABLE`; {@link CudaError} from the driver.
 */
export async function loadFileToDevice(
  filePath: string,
  options: LoadFileOptions = {},
): Promise<LoadFileResult> {
  // validate arguments
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(options, loadKeys, 'loadFileToDevice()');
  const { into, onProgress, direct = 'prefer' } = options;
  if (into !== undefined && !(into instanceof DeviceBuffer)) {
    throw invalidArgument('options.into', 'a DeviceBuffer', into);
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw invalidArgument('options.onProgress', 'a function', onProgress);
  }
  const offset = readInteger(options.offset, 'options.offset', 0);
  const destinationOffset = readInteger(options.destinationOffset, 'options.destinationOffset', 0);
  const chunkSize = readInteger(options.chunkSize, 'options.chunkSize', 16 << 20);
  const depth = readInteger(options.depth, 'options.depth', 4);
  if (depth < 2 || depth > 16) {
    throw invalidArgument('options.depth', 'an integer from 2 to 16', depth);
  }
  if (chunkSize < 64 << 10 || chunkSize > 1 << 30 || chunkSize % 4096 !== 0) {
    throw invalidArgument(
      'options.chunkSize',
      'a multiple of 4096 from 65536 to 1073741824',
      chunkSize,
    );
  }
  const device = into?.device ?? readInteger(options.device, 'options.device', 0);
  requireCuda();

  // open the file and size the load
  const file = openFile(filePath, { direct });
  const stagings: HostBuffer[] = [];
  let created: DeviceBuffer | undefined;
  let pending: Promise<void> | undefined;
  const reads: Promise<number>[] = [];
  try {
    const fileSize = file.size;
    const length = readInteger(options.length, 'options.length', Math.max(0, fileSize - offset));
    if (offset + length > fileSize) {
      throw new InvalidArgumentError(
        'ERR_DMEM_OUT_OF_BOUNDS',
        `Expected the range [${offset}, ${offset + length}) to lie inside the file's ` +
          `${fileSize} bytes (${filePath})`,
      );
    }
    if (into !== undefined && destinationOffset + length > into.size) {
      throw new InvalidArgumentError(
        'ERR_DMEM_OUT_OF_BOUNDS',
        `Expected destination range [${destinationOffset}, ${destinationOffset + length}) to ` +
          `lie inside its ${into.size} bytes`,
      );
    }
    if (length === 0 && into === undefined) {
      throw new InvalidArgumentError(
        'ERR_DMEM_INVALID_ARGUMENT',
        `Expected a range of at least 1 byte to load, received length 0 (${filePath})`,
      );
    }
    const target = into ?? (created = allocateDevice(length, { device }));

    // pinned staging buffers, aligned for this file
    const alignment = Math.max(4096, file.alignment.memory);
    const stagingSize = Math.min(chunkSize, roundUp(length, alignment));
    const chunks = Math.ceil(length / stagingSize);
    const slots = Math.min(depth, Math.max(2, chunks));
    let pinned = true;
    for (let index = 0; index < slots; index++) {
      const staging = allocate(stagingSize, { alignment, zero: false });
      stagings.push(staging);
      pinned = pinned && pinStaging(staging, device);
    }

    // Keep slots - 1 reads in flight while one staging buffer is copied to the device. A slot is
    // read into again only after its copy ended.
    const unit = file.alignment.readOffset ?? file.alignment.offset;
    const queued: Promise<number>[] = [];
    const startRead = (index: number): void => {
      const want = Math.min(stagingSize, length - index * stagingSize);
      const read = file.read(stagings[index % slots]!, offset + index * stagingSize, {
        length: want,
        tail: want % unit !== 0,
      });
      // Rethrown when awaited in order; until then it must not count as unhandled.
      read.catch(() => {});
      queued[index] = read;
      reads.push(read);
    };
    for (let index = 0; index < Math.min(slots - 1, chunks); index++) startRead(index);
    for (let index = 0; index < chunks; index++) {
      const want = Math.min(stagingSize, length - index * stagingSize);
      const got = await queued[index]!;
      if (got < want) {
        throw new MemoryError(
          'ERR_DMEM_SHORT_READ',
          `Expected ${want} bytes at offset ${offset + index * stagingSize} of ${filePath}, ` +
            `read ${got}: the file shrank during the load`,
        );
      }
      await pending;
      const ahead = index + slots - 1;
      if (ahead < chunks) startRead(ahead);
      const done = index * stagingSize + want;
      pending = copyToDevice(target, stagings[index % slots]!, {
        destinationOffset: destinationOffset + index * stagingSize,
        length: want,
      }).then(() => onProgress?.(done, length));
      // A failure is rethrown by the next `await pending`; until then reads are running, and the
      // rejection must not count as unhandled.
      pending.catch(() => {});
    }
    await pending;
    pending = undefined;
    debug(
      'cuda: loaded %d bytes of %s to device %d (direct %s)',
      length,
      filePath,
      device,
      file.direct,
    );
    return {
      buffer: target,
      bytes: length,
      direct: file.direct,
      pinned,
      chunkSize: stagingSize,
      depth: slots,
    };
  } catch (error) {
    // Let every read and copy in flight end before their buffers are released.
    await Promise.allSettled([...reads, pending]);
    created?.free();
    throw error;
  } finally {
    for (const staging of stagings) staging.free();
    await file.close();
  }
}

let pinWarned = false;

// Pinning can be refused (a locked-memory limit, a driver policy); the load still works through
// pageable staging buffers, at the driver's slower staged-copy speed, and says so once.
function pinStaging(staging: HostBuffer, device: number): boolean {
  try {
    return pinHostBuffer(staging, { device, mode: 'require' });
  } catch (error) {
    if (!(error instanceof CudaError)) throw error;
    if (!pinWarned) {
      pinWarned = true;
      process.emitWarning(
        `loadFileToDevice() could not pin its staging buffers (${error.code}); copies use ` +
          'pageable memory and are slower',
        { code: 'DMEM_CUDA_PIN_FAILED' },
      );
    }
    return false;
  }
}

function readInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(name, 'an integer >= 0', value);
  }
  return value;
}

function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}
