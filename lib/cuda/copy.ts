/**
 * Copies between host and device memory, run on a worker thread so the event loop never waits
 * for the device. See docs/cuda.md.
 */
import type { NativeHandle } from '../binding.js';
import { native } from '../binding.js';
import { awaitNative, checkOptionKeys, InvalidArgumentError, invalidArgument } from '../errors.js';
import { HostBuffer, nativeHandleOf } from '../host-buffer.js';

import { DeviceBuffer, deviceHandleOf } from './device-buffer.js';
import { PinnedHostBuffer } from './pinned.js';

/** Host memory a copy can use: a HostBuffer (pinned or not) or a PinnedHostBuffer. */
export type HostMemory = HostBuffer | PinnedHostBuffer;

/** Options of the copy functions. */
export interface CopyOptions {
  /** Byte offset into the destination. Defaults to `0`. */
  destinationOffset?: number;
  /** Byte offset into the source. Defaults to `0`. */
  sourceOffset?: number;
  /** Bytes to copy. Defaults to the rest of the source after `sourceOffset`. */
  length?: number;
}

const copyKeys = ['destinationOffset', 'sourceOffset', 'length'] as const;

/**
 * Copies from host memory to device memory. Pinned host memory copies by DMA at the link's
 * speed; pageable memory is staged by the driver and is slower.
 *
 * Both buffers are held until the copy ends: `free()` on either throws `BusyError` meanwhile.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT`, `ERR_DMEM_UNKNOWN_OPTION`, or
 *   `ERR_DMEM_OUT_OF_BOUNDS` when offset + length passes the end of either buffer.
 * @throws {DisposedError} `ERR_DMEM_BUFFER_FREED` / `ERR_DMEM_DEVICE_BUFFER_FREED`.
 * @throws {CudaUnavailableError} `ERR_DMEM_CUDA_UNAVAILABLE`.
 * @throws {CudaError} the driver's `CUDA_ERROR_*` (rejects the promise).
 */
export function copyToDevice(
  destination: DeviceBuffer,
  source: HostMemory,
  options: CopyOptions = {},
): Promise<void> {
  return copy('htod', destination, source, options);
}

/**
 * Copies from device memory to host memory. Same rules and errors as {@link copyToDevice}.
 */
export function copyFromDevice(
  destination: HostMemory,
  source: DeviceBuffer,
  options: CopyOptions = {},
): Promise<void> {
  return copy('dtoh', destination, source, options);
}

/**
 * Copies between device buffers, on one device or across two. Same rules and errors as
 * {@link copyToDevice}.
 */
export function copyDeviceToDevice(
  destination: DeviceBuffer,
  source: DeviceBuffer,
  options: CopyOptions = {},
): Promise<void> {
  return copy('dtod', destination, source, options);
}

async function copy(
  kind: 'htod' | 'dtoh' | 'dtod',
  destination: DeviceBuffer | HostMemory,
  source: DeviceBuffer | HostMemory,
  options: CopyOptions,
): Promise<void> {
  // validate arguments
  const destinationHandle = handleFor(destination, kind !== 'dtoh', 'destination');
  const sourceHandle = handleFor(source, kind !== 'htod', 'source');
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(options, copyKeys, 'copy');
  const destinationOffset = readOffset(options.destinationOffset, 'options.destinationOffset');
  const sourceOffset = readOffset(options.sourceOffset, 'options.sourceOffset');
  const length =
    options.length === undefined
      ? Math.max(0, source.size - sourceOffset)
      : readOffset(options.length, 'options.length');
  checkBounds('source', source.size, sourceOffset, length);
  checkBounds('destination', destination.size, destinationOffset, length);

  // copy on a worker thread (the binding refuses a fork child or a driver gone since)
  await awaitNative(() =>
    native().cudaCopy(
      kind,
      destinationHandle,
      destinationOffset,
      sourceHandle,
      sourceOffset,
      length,
    ),
  );
}

function handleFor(value: unknown, device: boolean, name: string): NativeHandle {
  if (device) {
    if (!(value instanceof DeviceBuffer)) throw invalidArgument(name, 'a DeviceBuffer', value);
    return deviceHandleOf(value);
  }
  if (value instanceof HostBuffer) return nativeHandleOf(value);
  if (value instanceof PinnedHostBuffer) return PinnedHostBuffer.handleOf(value);
  throw invalidArgument(name, 'a HostBuffer or PinnedHostBuffer', value);
}

function readOffset(value: unknown, name: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(name, 'an integer >= 0', value);
  }
  return value;
}

function checkBounds(name: string, size: number, offset: number, length: number): void {
  if (offset + length > size) {
    throw new InvalidArgumentError(
      'ERR_DMEM_OUT_OF_BOUNDS',
      `Expected ${name} range [${offset}, ${offset + length}) to lie inside its ${size} bytes, ` +
        `received offset ${offset} and length ${length}`,
    );
  }
}
