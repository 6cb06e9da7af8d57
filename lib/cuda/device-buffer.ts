/** Device memory: cuMemAlloc on a device's primary context. See docs/cuda.md. */
import { type NativeHandle, native } from '../binding.js';
import { debug } from '../debug.js';
import {
  BusyError,
  callNative,
  checkOptionKeys,
  DisposedError,
  invalidArgument,
} from '../errors.js';

import { requireCuda } from './status.js';
import { armExitRelease } from './teardown.js';

/** Options of {@link allocateDevice}. */
export interface AllocateDeviceOptions {
  /** CUDA ordinal of the device. Defaults to `0`. */
  device?: number;
}

/**
 * A block of device memory. JS cannot view it; move data with the copy functions. Release it with
 * `free()` (or `using`); a buffer dropped without `free()` is released by a finalizer, which is a
 * backstop only. Each buffer keeps its device's primary context retained until it is freed.
 */
export class DeviceBuffer implements Disposable {
  /** Bytes allocated. */
  readonly size: number;
  /** CUDA ordinal of the device that holds the memory. */
  readonly device: number;
  /** Device address of the memory (a CUdeviceptr). */
  readonly address: bigint;

  #handle: NativeHandle | undefined;
  readonly #freeHooks = new Set<() => void>();

  /** @internal Use {@link allocateDevice}. */
  constructor(handle: NativeHandle, address: bigint, size: number, device: number) {
    this.#handle = handle;
    this.address = address;
    this.size = size;
    this.device = device;
  }

  /** True once the memory was released, by `free()` or by {@link releaseCuda}. */
  get freed(): boolean {
    const handle = this.#handle;
    return handle === undefined || native().cudaHandleState(handle).released;
  }

  /**
   * Releases the memory now, after running the release hooks of other modules (NIXL deregisters
   * it). Calling it again does nothing. Freeing after the driver or the context is gone (process
   * exit, a device reset) is not an error.
   *
   * @throws {BusyError} `ERR_DMEM_DEVICE_BUFFER_BUSY` while a copy still uses the memory; await
   *   it first. Nothing is released then.
   */
  free(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    refuseWhileCopying(handle, 'ERR_DMEM_DEVICE_BUFFER_BUSY', 'a device buffer');
    this.#runFreeHooks();
    callNative(() => native().cudaDeviceFree(handle));
    this.#handle = undefined;
    debug('cuda: freed %d bytes on device %d', this.size, this.device);
  }

  /** Same as `free()`. */
  [Symbol.dispose](): void {
    this.free();
  }

  /** @internal */
  static handleOf(buffer: DeviceBuffer): NativeHandle {
    // A buffer released by releaseCuda() still has its handle: the binding refuses it with the
    // same DisposedError, which saves a native call on every copy.
    const handle = buffer.#handle;
    if (handle === undefined) {
      throw new DisposedError(
        'ERR_DMEM_DEVICE_BUFFER_FREED',
        'The device buffer was already freed',
      );
    }
    return handle;
  }

  /** @internal The handle, also checking that releaseCuda() did not release the memory. */
  static liveHandleOf(buffer: DeviceBuffer): NativeHandle {
    if (buffer.freed) {
      throw new DisposedError(
        'ERR_DMEM_DEVICE_BUFFER_FREED',
        'The device buffer was already freed',
      );
    }
    return DeviceBuffer.handleOf(buffer);
  }

  #runFreeHooks(): void {
    for (const hook of [...this.#freeHooks]) hook();
    this.#freeHooks.clear();
    buffersWithHooks.delete(this);
  }

  /** @internal */
  static addFreeHook(buffer: DeviceBuffer, hook: () => void): () => void {
    DeviceBuffer.liveHandleOf(buffer);
    buffer.#freeHooks.add(hook);
    buffersWithHooks.add(buffer);
    return () => {
      buffer.#freeHooks.delete(hook);
      if (buffer.#freeHooks.size === 0) buffersWithHooks.delete(buffer);
    };
  }

  /**
   * @internal Runs the free hooks of every buffer that has some (NIXL deregistration), before
   * releaseCuda() takes the memory. A failing hook is recorded and the others still run: the
   * memory goes either way.
   * @returns the failures.
   */
  static runAllFreeHooks(): unknown[] {
    const failures: unknown[] = [];
    for (const buffer of [...buffersWithHooks]) {
      try {
        buffer.#runFreeHooks();
      } catch (failure) {
        buffer.#freeHooks.clear();
        buffersWithHooks.delete(buffer);
        failures.push(failure);
      }
    }
    return failures;
  }
}

/**
 * @internal Refuses to release CUDA memory that a copy still uses.
 * @throws {BusyError} with `code`, naming how many copies hold it.
 */
export function refuseWhileCopying(handle: NativeHandle, code: string, what: string): void {
  const { holds } = callNative(() => native().cudaHandleState(handle));
  if (holds > 0) {
    throw new BusyError(
      code,
      `Cannot free ${what} while ${holds} copy(ies) still use it; await them first`,
    );
  }
}

/**
 * Buffers whose memory something else (a NIXL registration) depends on. Whoever adds a hook
 * holds the buffer strongly anyway, so this set keeps nothing alive that would otherwise go.
 */
const buffersWithHooks = new Set<DeviceBuffer>();

/**
 * Allocates `size` bytes of device memory on `options.device`. The memory is not zeroed.
 *
 * @param size Bytes, an integer from 1 to Number.MAX_SAFE_INTEGER.
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT` for a bad size or device,
 *   `ERR_DMEM_UNKNOWN_OPTION` for an unknown option, `ERR_DMEM_CUDA_INVALID_DEVICE` for an
 *   ordinal the driver does not have.
 * @throws {CudaUnavailableError} `ERR_DMEM_CUDA_UNAVAILABLE` (with `reason`) without CUDA.
 * @throws {CudaError} `CUDA_ERROR_OUT_OF_MEMORY` and other driver failures.
 */
export function allocateDevice(size: number, options: AllocateDeviceOptions = {}): DeviceBuffer {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) {
    throw invalidArgument('size', `an integer from 1 to ${Number.MAX_SAFE_INTEGER}`, size);
  }
  const device = readDeviceOption(options, 'allocateDevice()');
  requireCuda();
  const { handle, address } = callNative(() => native().cudaDeviceAlloc(device, size));
  armExitRelease();
  debug('cuda: allocated %d bytes on device %d at 0x%s', size, device, address.toString(16));
  return new DeviceBuffer(handle, address, size, device);
}

/** @internal Validates `options` holding only `device` (plus `extra` keys) and returns it. */
export function readDeviceOption(
  options: object,
  where: string,
  extra: readonly string[] = [],
): number {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(options, ['device', ...extra], where);
  const { device = 0 } = options as { device?: unknown };
  if (typeof device !== 'number' || !Number.isSafeInteger(device) || device < 0) {
    throw invalidArgument('options.device', 'a CUDA ordinal (an integer >= 0)', device);
  }
  return device;
}

/**
 * @internal Runs `hook` inside `free()` before the memory is released (NIXL deregisters there).
 * Returns a function that removes the hook. The caller keeps `buffer` strongly referenced.
 * @throws {DisposedError} `ERR_DMEM_DEVICE_BUFFER_FREED` once freed.
 */
export function onFree(buffer: DeviceBuffer, hook: () => void): () => void {
  return DeviceBuffer.addFreeHook(buffer, hook);
}

/** @internal What NIXL needs to describe a device allocation (VRAM, devId = CUDA ordinal). */
export interface DeviceAllocationInfo {
  address: bigint;
  size: number;
  /** CUDA ordinal. */
  device: number;
}

/**
 * @internal The address, size and CUDA ordinal of a live device allocation.
 * @throws {DisposedError} `ERR_DMEM_DEVICE_BUFFER_FREED` once freed.
 */
export function deviceAllocationOf(buffer: DeviceBuffer): DeviceAllocationInfo {
  DeviceBuffer.liveHandleOf(buffer);
  return { address: buffer.address, size: buffer.size, device: buffer.device };
}

/** @internal The native handle, for copies. */
export function deviceHandleOf(buffer: DeviceBuffer): NativeHandle {
  return DeviceBuffer.handleOf(buffer);
}

/**
 * @internal What the driver says an address is: `'device'` (with the CUDA ordinal), `'host'`
 * (pinned or registered), `'unified'`, or `'unknown'` (memory the driver never saw, or no CUDA).
 * NIXL uses it to refuse memory labelled VRAM that is not device memory. Never throws.
 */
export function pointerKind(address: bigint): { kind: string; device: number | null } {
  try {
    const result = native().cudaPointerKind(address);
    return { kind: result.kind, device: result.device >= 0 ? result.device : null };
  } catch {
    return { kind: 'unknown', device: null };
  }
}
