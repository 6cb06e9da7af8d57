/**
 * Files opened with O_DIRECT: reads and writes go between the disk and page-aligned memory
 * without the page cache, on the addon's own I/O threads (lib/io-engine.ts), never on the event
 * loop. Every alignment rule is checked before the system call, so a mistake is an
 * `AlignmentError` naming the argument, never a bare EINVAL.
 */
import path from 'node:path';

import {
  native,
  type NativeFileFacts,
  type NativeHandle,
  type NativeIoSegment,
} from './binding.js';
import {
  callNative,
  checkOptionKeys,
  DisposedError,
  fromNative,
  InvalidArgumentError,
  invalidArgument,
} from './errors.js';
import {
  batchSegments,
  byteLengthOf,
  checkCount,
  checkDirect,
  checkMode,
  checkPath,
  noOptions,
  segmentOf,
  vectorSegments,
} from './direct-file-args.js';
import { allocate, type HostBuffer } from './host-buffer.js';
import { ensureIoEngine } from './io-engine.js';

/** How much to insist on O_DIRECT. */
export type DirectMode = 'require' | 'prefer' | 'off';

/** The O_DIRECT alignment rules of one file. */
export interface DirectAlignment {
  /** Buffer addresses (backing address + byteOffset) must be multiples of this. */
  readonly memory: number;
  /** File offsets and lengths must be multiples of this. */
  readonly offset: number;
  /** Offsets and lengths of reads, where the kernel reports a value apart from `offset`. */
  readonly readOffset?: number;
  /**
   * Where the figures came from: `statx` (STATX_DIOALIGN), `logical-block` (max(page size, the
   * device's logical block size)) or `default` (4096, when neither answered).
   */
  readonly source: 'statx' | 'logical-block' | 'default';
}

/** Memory that I/O reads into or writes from. */
export type IoBuffer = HostBuffer | ArrayBufferView;

/** Options of {@link openFile}. */
export interface OpenFileOptions {
  /** Open for reading. Defaults to `true`. */
  read?: boolean;
  /** Open for writing. Defaults to `false` (`true` when `create` or `truncate` is set). */
  write?: boolean;
  /**
   * Create the file if it does not exist. A symbolic link at the path is refused (ELOOP), never
   * followed. Defaults to `false`.
   */
  create?: boolean;
  /** Truncate the file to 0 bytes. Defaults to `false`. */
  truncate?: boolean;
  /** With `create`: fail with EEXIST if the file exists. Defaults to `false`. */
  exclusive?: boolean;
  /** Permission bits of a created file, before the umask. Defaults to `0o660`. */
  mode?: number;
  /**
   * `require`: fail where the filesystem refuses O_DIRECT; `prefer`: fall back to buffered I/O
   * there, with one warning (`DMEM_DIRECT_IO_FALLBACK`) and `file.direct === false`; `off`:
   * buffered I/O. Defaults to `'prefer'`.
   */
  direct?: DirectMode;
}

/** Options of {@link createTempFile}. */
export interface TempFileOptions {
  /** Unlink the file at once: it lives only as long as it is open. Defaults to `false`. */
  unlink?: boolean;
  /** As for {@link openFile}. Defaults to `'prefer'`. */
  direct?: DirectMode;
}

/** Where in the buffer a transfer starts and how long it is. */
export interface IoOptions {
  /** Start in the buffer. Defaults to `0`. */
  bufferOffset?: number;
  /** Bytes to move. Defaults to the rest of the buffer after `bufferOffset`. */
  length?: number;
  /**
   * The length may be any number of bytes (the end of a file): the part after the last whole
   * alignment unit goes through an internal aligned block. A write pads that block with zeros
   * and then truncates the file to `offset + length`. Defaults to `false`.
   */
  tail?: boolean;
}

/** One transfer of a batch. */
export interface BatchOperation extends IoOptions {
  buffer: IoBuffer;
  /** Offset in the file. */
  offset: number;
}

/** Options of {@link readFile}. */
export interface ReadFileOptions {
  /** As for {@link openFile}. Defaults to `'prefer'`. */
  direct?: DirectMode;
  /** Alignment of the buffer allocated. Defaults to max(4096, the file's memory alignment). */
  alignment?: number;
}

/** Options of {@link writeFile}. */
export interface WriteFileOptions {
  /** As for {@link openFile}. Defaults to `'prefer'`. */
  direct?: DirectMode;
  /** Permission bits of a created file, before the umask. Defaults to `0o660`. */
  mode?: number;
  /** Fail with EEXIST if the file exists. Defaults to `false`. */
  exclusive?: boolean;
  /** fsync before resolving, so the data is durable. Defaults to `false`. */
  sync?: boolean;
}

const fallbackWarned = new Set<string>();

/**
 * An open file. Positional reads and writes run on the I/O engine and may overlap freely; each
 * keeps its buffer alive until it settles. Close it with `close()` (or `await using`).
 */
export class DirectFile implements AsyncDisposable {
  /** The path opened (for a temporary file, the name it was given). */
  readonly path: string;
  /** The file descriptor; meaningless once closed. */
  readonly fd: number;
  /** Whether I/O bypasses the page cache (O_DIRECT confirmed with F_GETFL after open). */
  readonly direct: boolean;
  /**
   * The alignment rules of this file. They are enforced only when `direct` is true; buffered
   * files accept any address, offset and length.
   */
  readonly alignment: DirectAlignment;
  /** The filesystem type as statfs names it (`ext4`, `xfs`, `btrfs`, `tmpfs`, or `0x<magic>`). */
  readonly filesystem: string;
  /** Why O_DIRECT is off although it was asked for; undefined otherwise. */
  readonly fallbackReason?: string;

  #handle: NativeHandle;
  #closed = false;
  #closing: Promise<void> | undefined;
  #inFlight = 0;
  #idle: (() => void) | undefined;
  readonly #closeHooks = new Set<() => void>();

  /** @internal Use {@link openFile} or {@link createTempFile}. */
  constructor(facts: NativeFileFacts) {
    this.#handle = facts.handle;
    this.path = facts.path;
    this.fd = facts.fd;
    this.direct = facts.direct;
    this.alignment = Object.freeze({ ...facts.alignment });
    this.filesystem = facts.filesystem;
    if (facts.fallbackReason !== undefined) this.fallbackReason = facts.fallbackReason;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The current size in bytes (fstat; the device size for a block device).
   *
   * @throws {DisposedError} `ERR_DMEM_FILE_CLOSED` once closed.
   */
  get size(): number {
    this.#checkOpen();
    return callNative(() => native().fileSize(this.#handle));
  }

  /**
   * Reads into `buffer` from `offset` in the file.
   *
   * @returns the bytes read: fewer than asked only at end of file. Holes read as zeros.
   * @throws {AlignmentError} `ERR_DMEM_ALIGNMENT` when the buffer address, offset or length breaks
   *   `alignment` (direct files only); `argument`, `value`, `alignment` and `remainder` say how.
   *   Nothing is read then.
   * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT`, `ERR_DMEM_OUT_OF_RANGE` (the range
   *   does not fit in the buffer).
   * @throws {DisposedError} `ERR_DMEM_FILE_CLOSED`, `ERR_DMEM_BUFFER_FREED`.
   * @throws {SystemError} from pread, with `path`.
   * @example
   * const buffer = allocate(1 << 20);
   * const got = await file.read(buffer, 0);
   */
  async read(buffer: IoBuffer, offset: number, options: IoOptions = noOptions): Promise<number> {
    const counts = await this.#run('read', [segmentOf(buffer, offset, options, 'read()')]);
    return counts[0]!;
  }

  /**
   * Writes `buffer` at `offset` in the file. Resolves only once every byte was written.
   *
   * @returns the bytes written (always the length asked for).
   * @throws as {@link DirectFile.read}, with SystemError from pwrite (ENOSPC, EBADF when not
   *   opened for writing).
   */
  async write(buffer: IoBuffer, offset: number, options: IoOptions = noOptions): Promise<number> {
    const segment = segmentOf(buffer, offset, options, 'write()');
    const truncateTo = segment.tail ? segment.offset + segment.length : undefined;
    const counts = await this.#run('write', [segment], truncateTo);
    return counts[0]!;
  }

  /**
   * Reads consecutive file bytes from `offset` into each buffer in turn (preadv-like).
   *
   * @returns the total bytes read, short only at end of file.
   * @throws as {@link DirectFile.read}; argument names read `buffers[i]`.
   */
  async readv(buffers: readonly IoBuffer[], offset: number): Promise<number> {
    const counts = await this.#run('read', vectorSegments(buffers, offset, 'readv()'));
    let total = 0;
    for (const [index, count] of counts.entries()) {
      total += count;
      if (count < byteLengthOf(buffers[index]!)) break;
    }
    return total;
  }

  /**
   * Writes each buffer in turn at consecutive file offsets from `offset` (pwritev-like).
   *
   * @returns the total bytes written.
   * @throws as {@link DirectFile.write}; argument names read `buffers[i]`.
   */
  async writev(buffers: readonly IoBuffer[], offset: number): Promise<number> {
    const counts = await this.#run('write', vectorSegments(buffers, offset, 'writev()'));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /**
   * Runs many reads as one request: the engine shares them among its threads and settles them
   * with one promise, which costs far less per read than one call each.
   *
   * @returns bytes read per operation, in order.
   * @throws as {@link DirectFile.read}; argument names read `ops[i]`. Every operation is checked
   *   before any starts.
   */
  async readBatch(ops: readonly BatchOperation[]): Promise<number[]> {
    return this.#run('read', batchSegments(ops, 'readBatch()'));
  }

  /**
   * Runs many writes as one request (see {@link DirectFile.readBatch}). `tail` is not allowed.
   *
   * @returns bytes written per operation, in order.
   * @throws as {@link DirectFile.write}; argument names read `ops[i]`.
   */
  async writeBatch(ops: readonly BatchOperation[]): Promise<number[]> {
    return this.#run('write', batchSegments(ops, 'writeBatch()'));
  }

  /**
   * Reads the whole file (its size now) into `buffer`, which must hold at least that many bytes;
   * the file's length need not be aligned.
   *
   * @returns the bytes read.
   * @throws as {@link DirectFile.read}; InvalidArgumentError `ERR_DMEM_OUT_OF_RANGE` when the
   *   buffer is smaller than the file.
   */
  async readAll(buffer: IoBuffer): Promise<number> {
    const size = this.size;
    if (size === 0) return 0;
    return this.read(buffer, 0, { length: size, tail: true });
  }

  /**
   * Reserves space for `length` bytes from `offset`: fallocate, or where the filesystem cannot,
   * ftruncate (which only sets the size; the blocks are allocated as they are written).
   *
   * @returns which of the two happened.
   * @throws {SystemError} from fallocate or ftruncate (ENOSPC).
   */
  async reserve(length: number, offset = 0): Promise<'fallocate' | 'ftruncate'> {
    checkCount('length', length);
    checkCount('offset', offset);
    return this.#command(() => native().fileCommand(this.#handle, 'reserve', offset, length));
  }

  /**
   * Sets the file's size.
   *
   * @throws {SystemError} from ftruncate.
   */
  async truncate(size: number): Promise<void> {
    checkCount('size', size);
    await this.#command(() => native().fileCommand(this.#handle, 'truncate', size));
  }

  /**
   * Flushes data and metadata to the device (fsync). O_DIRECT writes bypass the page cache but
   * not the device's cache: call this when the data must survive a power loss.
   *
   * @throws {SystemError} from fsync.
   */
  async sync(): Promise<void> {
    await this.#command(() => native().fileCommand(this.#handle, 'sync'));
  }

  /**
   * Flushes data and the metadata needed to read it back (fdatasync).
   *
   * @throws {SystemError} from fdatasync.
   */
  async datasync(): Promise<void> {
    await this.#command(() => native().fileCommand(this.#handle, 'datasync'));
  }

  /**
   * Closes the file once every operation in flight has settled; operations started after this
   * call fail with `ERR_DMEM_FILE_CLOSED`. Calling it again returns the same promise.
   *
   * @throws {SystemError} when close() reports a failure (the descriptor is released anyway).
   * @throws whatever a close hook (NIXL deregistration) throws; the descriptor then stays open
   *   and `close()` can be called again.
   */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#closing) return this.#closing;
    let hookFailed = false;
    const closing = (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      // A hook that fails (NIXL could not deregister) keeps the descriptor open: closing it
      // would let the kernel reuse the number under a live registration. close() may be called
      // again; new I/O stays refused.
      for (const hook of [...this.#closeHooks]) {
        hookFailed = true;
        hook();
        hookFailed = false;
        this.#closeHooks.delete(hook);
      }
      callNative(() => native().fileClose(this.#handle));
    })();
    this.#closing = closing;
    closing.catch(() => {
      if (hookFailed && this.#closing === closing) this.#closing = undefined;
    });
    return this.#closing;
  }

  /** Same as `close()`, for `await using file = openFile(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  static addCloseHook(file: DirectFile, hook: () => void): () => void {
    file.#checkOpen();
    file.#closeHooks.add(hook);
    return () => file.#closeHooks.delete(hook);
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new DisposedError('ERR_DMEM_FILE_CLOSED', `The file ${this.path} is closed`);
    }
  }

  #run(
    kind: 'read' | 'write',
    segments: NativeIoSegment[],
    truncateTo?: number,
  ): Promise<number[]> {
    return this.#settle(() => native().fileIo(this.#handle, kind, segments, truncateTo));
  }

  #command<T>(start: () => Promise<T>): Promise<T> {
    return this.#settle(start);
  }

  // One async frame per operation: this is the hot path of small reads.
  async #settle<T>(start: () => Promise<T>): Promise<T> {
    this.#checkOpen();
    const callSite = new Error();
    this.#inFlight++;
    try {
      return await start();
    } catch (failure) {
      throw fromNative(failure, callSite);
    } finally {
      if (--this.#inFlight === 0 && this.#idle) {
        this.#idle();
        this.#idle = undefined;
      }
    }
  }
}

/**
 * Opens a file for direct I/O.
 *
 * @throws {DirectIoUnsupportedError} `ERR_DMEM_DIRECT_IO_UNSUPPORTED` with `direct: 'require'`
 *   where the filesystem refuses O_DIRECT; the message names the path and the filesystem.
 * @throws {SystemError} from open (ENOENT, EACCES, EEXIST, ELOOP for a symbolic link at a path
 *   being created, EISDIR), with `path`.
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT` for a bad option or a path that is
 *   neither a regular file nor a block device; `ERR_DMEM_UNKNOWN_OPTION`.
 * @example
 * await using file = openFile('/data/blocks.bin', { write: true, create: true });
 */
export function openFile(filePath: string, options: OpenFileOptions = {}): DirectFile {
  checkPath(filePath);
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(
    options,
    ['read', 'write', 'create', 'truncate', 'exclusive', 'mode', 'direct'],
    'openFile()',
  );
  const {
    read = true,
    create = false,
    truncate = false,
    exclusive = false,
    mode = 0o660,
    direct = 'prefer',
  } = options;
  const write = options.write ?? (create || truncate);
  for (const [name, value] of Object.entries({ read, write, create, truncate, exclusive })) {
    if (typeof value !== 'boolean') throw invalidArgument(`options.${name}`, 'a boolean', value);
  }
  if (!read && !write) {
    throw new InvalidArgumentError(
      'ERR_DMEM_INVALID_ARGUMENT',
      'Expected options.read or options.write to be true, received both false',
    );
  }
  checkMode(mode);
  checkDirect(direct);
  return open({
    path: filePath,
    read,
    write,
    create,
    truncate,
    exclusive,
    mode,
    direct,
    temporary: false,
    unlink: false,
  });
}

/**
 * Creates a new file in `directory` with an unpredictable name and mode 0600, open for reading
 * and writing. Rename it into place when complete, or pass `unlink: true` for scratch space that
 * disappears when closed.
 *
 * @throws as {@link openFile}.
 */
export function createTempFile(directory: string, options: TempFileOptions = {}): DirectFile {
  checkPath(directory, 'directory');
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(options, ['unlink', 'direct'], 'createTempFile()');
  const { unlink = false, direct = 'prefer' } = options;
  if (typeof unlink !== 'boolean') throw invalidArgument('options.unlink', 'a boolean', unlink);
  checkDirect(direct);
  return open({
    path: path.resolve(directory),
    read: true,
    write: true,
    create: true,
    truncate: false,
    exclusive: true,
    mode: 0o600,
    direct,
    temporary: true,
    unlink,
  });
}

/**
 * Reads a whole file into new page-aligned host memory.
 *
 * @returns a HostBuffer of exactly the file's size, or `null` for an empty file (host buffers
 *   hold at least one byte). Free it when done.
 * @throws as {@link openFile} and {@link DirectFile.read}.
 * @example
 * const weights = await readFile('/models/layer0.bin', { direct: 'require' });
 */
export async function readFile(
  filePath: string,
  options: ReadFileOptions = {},
): Promise<HostBuffer | null> {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(options, ['direct', 'alignment'], 'readFile()');
  const file = openFile(filePath, { direct: options.direct ?? 'prefer' });
  try {
    const size = file.size;
    if (size === 0) return null;
    const alignment = options.alignment ?? Math.max(4096, file.alignment.memory);
    const buffer = allocate(size, { alignment, zero: false });
    try {
      const got = await file.readAll(buffer);
      if (got !== size) {
        // The file shrank while it was read: say so rather than return stale bytes.
        throw new InvalidArgumentError(
          'ERR_DMEM_FILE_CHANGED',
          `Expected to read ${size} bytes from ${file.path}, received ${got}: the file changed`,
        );
      }
      return buffer;
    } catch (failure) {
      buffer.free();
      throw failure;
    }
  } finally {
    await file.close();
  }
}

/**
 * Writes `data` as the whole content of a file, creating or truncating it. Any length works:
 * the last partial block is written padded and the file is truncated back to `data`'s length.
 *
 * @returns the bytes written.
 * @throws as {@link openFile} and {@link DirectFile.write}.
 */
export async function writeFile(
  filePath: string,
  data: IoBuffer,
  options: WriteFileOptions = {},
): Promise<number> {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(options, ['direct', 'mode', 'exclusive', 'sync'], 'writeFile()');
  const file = openFile(filePath, {
    write: true,
    read: false,
    create: true,
    truncate: true,
    exclusive: options.exclusive ?? false,
    mode: options.mode ?? 0o660,
    direct: options.direct ?? 'prefer',
  });
  try {
    const length = byteLengthOf(data);
    const written = length === 0 ? 0 : await file.write(data, 0, { length, tail: true });
    if (options.sync === true) await file.sync();
    return written;
  } finally {
    await file.close();
  }
}

/**
 * @internal Runs `hook` inside `close()`, after I/O in flight settled and before the descriptor
 * is closed (NIXL deregisters the file there). Returns a function that removes the hook.
 * @throws {DisposedError} `ERR_DMEM_FILE_CLOSED` once closed.
 */
export function onClose(file: DirectFile, hook: () => void): () => void {
  return DirectFile.addCloseHook(file, hook);
}

function open(options: Parameters<ReturnType<typeof native>['fileOpen']>[0]): DirectFile {
  ensureIoEngine();
  const file = new DirectFile(callNative(() => native().fileOpen(options)));
  if (options.direct === 'prefer' && !file.direct && !fallbackWarned.has(file.filesystem)) {
    fallbackWarned.add(file.filesystem);
    process.emitWarning(
      `Direct I/O is not available on ${file.filesystem} (${file.fallbackReason ?? 'refused'}) ` +
        `for ${file.path}; using buffered I/O. Use a disk-backed filesystem, or pass ` +
        `direct: 'off' to ask for buffered I/O and silence this warning`,
      { code: 'DMEM_DIRECT_IO_FALLBACK' },
    );
  }
  return file;
}
