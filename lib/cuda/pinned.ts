/**
 * Page-locked ("pinned") host memory: host buffers pinned in place with cuMemHostRegister, and
 * memory allocated pinned with cuMemHostAlloc. See docs/cuda.md.
 */
import { type NativeHandle, native } from '../binding.js';
import { debug } from '../debug.js';
import type { VendorMode } from '../env.js';
import { callNative, DisposedError, invalidArgument } from '../errors.js';
import { type HostBuffer, nativeHandleOf, onRelease } from '../host-buffer.js';

import { readDeviceOption, refuseWhileCopying } from './device-buffer.js';
import { cudaOrDegrade, requireCuda } from './status.js';
import { armExitRelease } from './teardown.js';

/** Options of {@link pinHostBuffer}. */
export interface PinOptions {
  /** Device whose primary context registers the memory; the pinning is portable to all. Defaults to `0`. */
  device?: number;
  /**
   * `'auto'`: without CUDA, do nothing (one process warning) and return false. `'require'`:
   * throw without CUDA. `'off'`: never pin. Defaults to `DYNAMO_MEMORY_CUDA`, else `'auto'`.
   */
  mode?: VendorMode;
}

interface Pinned {
  handle: NativeHandle;
  removeHook: () => void;
}

// Strong references: a pinned buffer cannot be collected, so no finalizer frees pinned memory.
const pinnings = new Map<HostBuffer, Pinned>();

/**
 * Pins a host buffer in place (cuMemHostRegister, portable and device-mapped), so that copies to
 * and from devices use DMA at full speed. Pinning an already pinned buffer does nothing. While
 * pinned, `buffer.free()` unpins first.
 *
 * @returns true when the buffer is pinned, false when CUDA is not available and the mode is
 *   `'auto'` (or `'off'`): pinning is then a no-op, and copies still work where CUDA does.
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT` / `ERR_DMEM_UNKNOWN_OPTION`.
 * @throws {DisposedError} `ERR_DMEM_BUFFER_FREED` when the buffer was freed.
 * @throws {CudaUnavailableError} `ERR_DMEM_CUDA_UNAVAILABLE` in `'require'` mode without CUDA.
 * @throws {CudaError} `CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED` when another registration
 *   overlaps it, `CUDA_ERROR_NOT_PERMITTED`, and other driver failures.
 */
export function pinHostBuffer(buffer: HostBuffer, options: PinOptions = {}): boolean {
  const device = readDeviceOption(options, 'pinHostBuffer()', ['mode']);
  const hostHandle = nativeHandleOf(buffer);
  if (pinnings.has(buffer)) return true;
  if (!cudaOrDegrade((options as PinOptions).mode, 'pinHostBuffer()')) return false;

  const handle = callNative(() => native().cudaPin(hostHandle, device));
  const removeHook = onRelease(buffer, () => unpinHostBuffer(buffer));
  pinnings.set(buffer, { handle, removeHook });
  armExitRelease();
  debug('cuda: pinned %d bytes at 0x%s', buffer.size, buffer.address.toString(16));
  return true;
}

/**
 * Unpins a buffer pinned with {@link pinHostBuffer}.
 *
 * @returns false when the buffer was not pinned.
 * @throws {BusyError} `ERR_DMEM_BUFFER_BUSY` while a copy or file I/O uses the buffer.
 */
export function unpinHostBuffer(buffer: HostBuffer): boolean {
  const pinned = pinnings.get(buffer);
  if (pinned === undefined) return false;
  callNative(() => native().cudaUnpin(pinned.handle));
  pinned.removeHook();
  pinnings.delete(buffer);
  debug('cuda: unpinned %d bytes at 0x%s', buffer.size, buffer.address.toString(16));
  return true;
}

/** True while `buffer` is pinned by {@link pinHostBuffer}. */
export function isPinned(buffer: HostBuffer): boolean {
  return pinnings.has(buffer);
}

/** @internal Forgets every pinning after releaseCuda() unregistered them natively. */
export function forgetPinnings(): void {
  for (const pinned of pinnings.values()) pinned.removeHook();
  pinnings.clear();
}

/** Which cuMemHostAlloc flags to use. */
export type WriteCombinedMode = 'off' | 'prefer' | 'require';

/** Options of {@link allocatePinned}. */
export interface AllocatePinnedOptions {
  /** Device whose primary context allocates; the memory is portable to all. Defaults to `0`. */
  device?: number;
  /**
   * Write-combined memory is faster for host-to-device copies and very slow for the CPU to read.
   * `'prefer'` tries it, then plain flags (some platforms, e.g. Grace, refuse large
   * write-combined allocations); `'require'` fails without it. Defaults to `'off'`.
   */
  writeCombined?: WriteCombinedMode;
}

/**
 * Host memory allocated pinned (cuMemHostAlloc, portable and device-mapped). `bytes` and
 * `buffer` view the memory itself. `free()` detaches every view first, so JS cannot touch freed
 * memory; a buffer dropped without `free()` is released once it and all its views are collected.
 */
export class PinnedHostBuffer implements Disposable {
  readonly size: number;
  /** Host address of the memory. */
  readonly address: bigint;
  /** Device whose context allocated it. */
  readonly device: number;
  /** Whether the memory is write-combined. */
  readonly writeCombined: boolean;
  /** The cuMemHostAlloc flags used (`CU_MEMHOSTALLOC_*`). */
  readonly flags: number;

  #handle: NativeHandle | undefined;
  readonly #arrayBuffer: ArrayBuffer;
  readonly #bytes: Uint8Array;
  readonly #buffer: Buffer;

  /** @internal Use {@link allocatePinned}. */
  constructor(
    allocation: ReturnType<ReturnType<typeof native>['cudaPinnedAlloc']>,
    size: number,
    device: number,
  ) {
    this.#handle = allocation.handle;
    this.#arrayBuffer = allocation.buffer;
    this.#bytes = new Uint8Array(allocation.buffer);
    this.#buffer = Buffer.from(allocation.buffer);
    this.size = size;
    this.address = allocation.address;
    this.device = device;
    this.writeCombined = allocation.writeCombined;
    this.flags = allocation.flags;
  }

  /** A Uint8Array over the memory; length 0 once freed. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** A Buffer over the memory; length 0 once freed. */
  get buffer(): Buffer {
    return this.#buffer;
  }

  /** The ArrayBuffer behind the views; detached once freed. */
  get arrayBuffer(): ArrayBuffer {
    return this.#arrayBuffer;
  }

  /** True once the memory was released, by `free()` or by {@link releaseCuda}. */
  get freed(): boolean {
    const handle = this.#handle;
    return handle === undefined || native().cudaHandleState(handle).released;
  }

  /**
   * Detaches every view and frees the memory. Calling it again does nothing.
   *
   * @throws {BusyError} `ERR_DMEM_BUFFER_BUSY` while a copy uses the memory; nothing changes.
   */
  free(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    refuseWhileCopying(handle, 'ERR_DMEM_BUFFER_BUSY', 'a pinned buffer');
    callNative(() => native().cudaPinnedFree(handle));
    this.#handle = undefined;
  }

  /** Same as `free()`. */
  [Symbol.dispose](): void {
    this.free();
  }

  /** @internal */
  static handleOf(buffer: PinnedHostBuffer): NativeHandle {
    // A buffer released by releaseCuda() still has its handle: the binding refuses it with the
    // same DisposedError, which saves a native call on every copy.
    const handle = buffer.#handle;
    if (handle === undefined) {
      throw new DisposedError('ERR_DMEM_BUFFER_FREED', 'The pinned buffer was already freed');
    }
    return handle;
  }
}

/**
 * Allocates `size` bytes of pinned host memory. The driver does not promise zeroed memory: write
 * before you read.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT`, `ERR_DMEM_UNKNOWN_OPTION`,
 *   `ERR_DMEM_CUDA_INVALID_DEVICE`; `ERR_DMEM_EXTERNAL_BUFFERS_FORBIDDEN` in runtimes that forbid
 *   external ArrayBuffers (pin a HostBuffer there instead).
 * @throws {CudaUnavailableError} `ERR_DMEM_CUDA_UNAVAILABLE` without CUDA.
 * @throws {CudaError} `CUDA_ERROR_OUT_OF_MEMORY`; `CUDA_ERROR_INVALID_VALUE` when
 *   `writeCombined: 'require'` is refused.
 */
export function allocatePinned(
  size: number,
  options: AllocatePinnedOptions = {},
): PinnedHostBuffer {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) {
    throw invalidArgument('size', `an integer from 1 to ${Number.MAX_SAFE_INTEGER}`, size);
  }
  const device = readDeviceOption(options, 'allocatePinned()', ['writeCombined']);
  const { writeCombined = 'off' } = options;
  if (writeCombined !== 'off' && writeCombined !== 'prefer' && writeCombined !== 'require') {
    throw invalidArgument(
      'options.writeCombined',
      "one of 'off', 'prefer', 'require'",
      writeCombined,
    );
  }
  requireCuda();
  const allocation = callNative(() => native().cudaPinnedAlloc(device, size, writeCombined));
  armExitRelease();
  return new PinnedHostBuffer(allocation, size, device);
}
