/**
 * Page-aligned host memory that JS sees without copies. See docs/host-memory.md.
 */
import { constants as bufferConstants } from 'node:buffer';

import { type NativeHandle, native } from './binding.js';
import { debug } from './debug.js';
import { readBooleanEnv } from './env.js';
import {
  BusyError,
  callNative,
  checkOptionKeys,
  DisposedError,
  invalidArgument,
} from './errors.js';

/** How hard to try for 2 MiB pages. */
export type HugePagesMode = 'off' | 'prefer' | 'require';

/** Which pages an allocation actually got. */
export type HugePagesObtained = 'none' | 'transparent' | 'hugetlb';

/** Options of {@link allocate}. */
export interface AllocateOptions {
  /** Alignment of the start address: a power of two from 512 to 2^30. Defaults to `4096`. */
  alignment?: number;
  /** Whether the memory reads as zeros. Defaults to `true`. */
  zero?: boolean;
  /**
   * 2 MiB pages: `'prefer'` tries hugetlbfs pages, then transparent huge pages, then base pages;
   * `'require'` fails unless one of the first two backs the memory. The size is rounded up to
   * 2 MiB internally. Defaults to `'off'`.
   */
  hugePages?: HugePagesMode;
  /**
   * Lock the pages in RAM with mlock. Counts against RLIMIT_MEMLOCK unless the process has
   * CAP_IPC_LOCK. Defaults to `false`.
   */
  lock?: boolean;
}

const optionKeys = ['alignment', 'zero', 'hugePages', 'lock'] as const;
const hugePagesCodes: Record<HugePagesMode, number> = { off: 0, prefer: 1, require: 2 };
const minAlignment = 512;
const maxAlignment = 2 ** 30;

/** What the addon returns for one allocation. */
interface NativeAllocation {
  handle: NativeHandle;
  arrayBuffer: ArrayBuffer;
  byteOffset: number;
  address: bigint;
  mappedLength: number;
  hugePages: HugePagesObtained;
  locked: boolean;
  zeroCopy: boolean;
}

declare module './binding.js' {
  interface NativeBinding {
    hostAllocate(
      size: number,
      alignment: number,
      zero: boolean,
      hugePages: number,
      lock: boolean,
      allowExternal: boolean,
    ): NativeAllocation;
    hostFree(handle: NativeHandle, arrayBuffer: ArrayBuffer): boolean;
    hostHolds(handle: NativeHandle): number;
    hostPageSize(): number;
  }
}

let fallbackWarned = false;

/** Which HostBuffer owns an ArrayBuffer, so that a plain view of one is never used unguarded. */
const ownerOfArrayBuffer = new WeakMap<ArrayBuffer, HostBuffer>();

/**
 * A block of page-aligned host memory. `bytes` and `buffer` are views of the memory itself, not
 * copies. Release it with `free()` (or `using`); a buffer dropped without `free()` is released
 * by a finalizer once the event loop turns, and its size is reported to V8 so that garbage
 * collection keeps up.
 */
export class HostBuffer implements Disposable {
  /** Bytes requested; every view has exactly this length until `free()`. */
  readonly size: number;
  /** Alignment of `address`. */
  readonly alignment: number;
  /** Start address of the memory, for CUDA and NIXL. */
  readonly address: bigint;
  /** Bytes actually reserved (rounded up to the page or huge-page size). */
  readonly mappedLength: number;
  /** Whether the pages are locked in RAM (mlock). */
  readonly locked: boolean;
  /** Which pages back the memory. */
  readonly hugePages: HugePagesObtained;
  /**
   * True when the views are the native memory itself. False in runtimes that forbid external
   * buffers (the V8 memory cage), where V8 owns the memory and the views start at an aligned
   * offset inside a larger ArrayBuffer.
   */
  readonly zeroCopy: boolean;

  #handle: NativeHandle | undefined;
  readonly #arrayBuffer: ArrayBuffer;
  readonly #bytes: Uint8Array;
  readonly #buffer: Buffer;
  readonly #releaseHooks = new Set<() => void>();

  /** @internal Use {@link allocate}. */
  constructor(allocation: NativeAllocation, size: number, alignment: number) {
    this.size = size;
    this.alignment = alignment;
    this.address = allocation.address;
    this.mappedLength = allocation.mappedLength;
    this.locked = allocation.locked;
    this.hugePages = allocation.hugePages;
    this.zeroCopy = allocation.zeroCopy;
    this.#handle = allocation.handle;
    this.#arrayBuffer = allocation.arrayBuffer;
    this.#bytes = new Uint8Array(allocation.arrayBuffer, allocation.byteOffset, size);
    this.#buffer = Buffer.from(allocation.arrayBuffer, allocation.byteOffset, size);
    ownerOfArrayBuffer.set(allocation.arrayBuffer, this);
  }

  /** A Uint8Array over exactly `size` bytes of the memory; length 0 after `free()`. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** A Buffer over the same memory as `bytes`; length 0 after `free()`. */
  get buffer(): Buffer {
    return this.#buffer;
  }

  /**
   * The ArrayBuffer behind the views. When `zeroCopy` is false it is larger than `size` and the
   * memory starts at `bytes.byteOffset`.
   */
  get arrayBuffer(): ArrayBuffer {
    return this.#arrayBuffer;
  }

  /** True once the memory was released. */
  get freed(): boolean {
    return this.#handle === undefined;
  }

  /**
   * Releases the memory now. Every view made from it, subarrays and Buffers included, drops to
   * length 0, so no JS code can reach freed memory. Pinned or registered memory is unpinned or
   * deregistered first. Calling it again does nothing.
   *
   * @throws {BusyError} `ERR_DMEM_BUFFER_BUSY` while I/O or a copy still uses the memory; await
   *   it first. Nothing is released then.
   */
  free(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    const holds = callNative(() => native().hostHolds(handle));
    if (holds > 0) {
      throw new BusyError(
        'ERR_DMEM_BUFFER_BUSY',
        `Cannot free a host buffer while ${holds} operation(s) still use it; await them first`,
      );
    }
    for (const hook of [...this.#releaseHooks]) hook();
    this.#releaseHooks.clear();
    callNative(() => native().hostFree(handle, this.#arrayBuffer));
    this.#handle = undefined;
  }

  /** Same as `free()`, so that `using buffer = allocate(n)` releases it at the end of the scope. */
  [Symbol.dispose](): void {
    this.free();
  }

  /** @internal */
  static handleOf(buffer: HostBuffer): NativeHandle {
    if (buffer.#handle === undefined) {
      throw new DisposedError('ERR_DMEM_BUFFER_FREED', 'The host buffer was already freed');
    }
    return buffer.#handle;
  }

  /** @internal */
  static addReleaseHook(buffer: HostBuffer, hook: () => void): () => void {
    if (buffer.#handle === undefined) {
      throw new DisposedError('ERR_DMEM_BUFFER_FREED', 'The host buffer was already freed');
    }
    buffer.#releaseHooks.add(hook);
    return () => buffer.#releaseHooks.delete(hook);
  }
}

/**
 * Allocates host memory aligned to `options.alignment` (4096 by default).
 *
 * @param size Bytes, an integer from 1 to Number.MAX_SAFE_INTEGER. JS views are limited to
 *   `buffer.constants.MAX_LENGTH` (4 GiB on Node 20).
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT` for a bad size, alignment or option
 *   value; `ERR_DMEM_UNKNOWN_OPTION` for an unknown option key.
 * @throws {OutOfMemoryError} `ERR_DMEM_OUT_OF_MEMORY` when the system refuses the memory.
 * @throws {MemlockLimitError} `ERR_DMEM_MEMLOCK_LIMIT` when `lock` is refused by RLIMIT_MEMLOCK;
 *   `limit`, `hardLimit` and `requested` say by how much.
 * @throws {HugePagesUnavailableError} `ERR_DMEM_HUGE_PAGES_UNAVAILABLE` with `hugePages:
 *   'require'` when no huge pages could be had.
 */
export function allocate(size: number, options: AllocateOptions = {}): HostBuffer {
  // validate arguments
  if (
    typeof size !== 'number' ||
    !Number.isSafeInteger(size) ||
    size < 1 ||
    size > bufferConstants.MAX_LENGTH
  ) {
    throw invalidArgument(
      'size',
      `an integer from 1 to ${bufferConstants.MAX_LENGTH} (buffer.constants.MAX_LENGTH, the ` +
        'largest JS view this Node.js version allows)',
      size,
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(options, optionKeys, 'allocate()');
  const { alignment = 4096, zero = true, hugePages = 'off', lock = false } = options;
  if (
    typeof alignment !== 'number' ||
    !Number.isInteger(alignment) ||
    alignment < minAlignment ||
    alignment > maxAlignment ||
    (alignment & (alignment - 1)) !== 0
  ) {
    throw invalidArgument('options.alignment', 'a power of two from 512 to 1073741824', alignment);
  }
  if (typeof zero !== 'boolean') throw invalidArgument('options.zero', 'a boolean', zero);
  if (typeof lock !== 'boolean') throw invalidArgument('options.lock', 'a boolean', lock);
  if (!Object.hasOwn(hugePagesCodes, hugePages as string)) {
    throw invalidArgument('options.hugePages', "one of 'off', 'prefer', 'require'", hugePages);
  }

  // allocate
  const allowExternal = readBooleanEnv('DYNAMO_MEMORY_ZERO_COPY', true);
  const allocation = callNative(() =>
    native().hostAllocate(size, alignment, zero, hugePagesCodes[hugePages], lock, allowExternal),
  );
  if (!allocation.zeroCopy && !fallbackWarned) {
    fallbackWarned = true;
    process.emitWarning(
      'External buffers are not available in this runtime (V8 memory cage or ' +
        'DYNAMO_MEMORY_ZERO_COPY=0): host buffers are V8-owned ArrayBuffers viewed at an ' +
        'aligned offset (zeroCopy: false)',
      { code: 'DMEM_ZERO_COPY_UNAVAILABLE' },
    );
  }
  debug(
    'allocate %d bytes at 0x%s (%s pages)',
    size,
    allocation.address.toString(16),
    allocation.hugePages,
  );
  return new HostBuffer(allocation, size, alignment);
}

/** The system page size in bytes. */
export function pageSize(): number {
  return native().hostPageSize();
}

/**
 * @internal The native handle of a buffer, for other bindings.
 * @throws {DisposedError} `ERR_DMEM_BUFFER_FREED` once the buffer was freed.
 */
export function nativeHandleOf(buffer: HostBuffer): NativeHandle {
  return HostBuffer.handleOf(buffer);
}

/**
 * @internal Runs `hook` inside `free()`, before the memory is released (unpin, deregister).
 * Returns a function that removes the hook. The caller keeps `buffer` strongly referenced.
 * @throws {DisposedError} `ERR_DMEM_BUFFER_FREED` once the buffer was freed.
 */
export function onRelease(buffer: HostBuffer, hook: () => void): () => void {
  return HostBuffer.addReleaseHook(buffer, hook);
}

/**
 * @internal The HostBuffer whose memory a plain view (`buffer.bytes.subarray(...)`, a Buffer
 * made from its ArrayBuffer) covers, or undefined for any other memory. Native operations use it
 * to hold the HostBuffer itself, so that `free()` sees the operation and refuses with BusyError.
 */
export function hostBufferOwning(view: ArrayBufferView): HostBuffer | undefined {
  return ownerOfArrayBuffer.get(view.buffer as ArrayBuffer);
}
