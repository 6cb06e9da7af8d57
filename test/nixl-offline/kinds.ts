/**
 * STAND-IN memory kinds for files and device memory, with the shapes of the package's
 * DirectFile (fd, path, size, close hooks) and device buffers (address, size, CUDA ordinal, free
 * hooks), so that descriptor mapping and release order can be tested where those modules or a
 * GPU are absent. A StandinFile opened with `open()` wraps a real descriptor, so the C API
 * stand-in can move bytes through it.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';

import { DisposedError } from '../../lib/errors.js';
import type { NixlMemoryKind } from '../../lib/nixl/memory.js';

export class StandinFile {
  #closed = false;
  readonly #hooks = new Set<() => void>();

  constructor(
    readonly fd: number,
    readonly path: string,
    readonly fixedSize: number,
    readonly ownsFd = false,
  ) {}

  /** Opens a real file (created if missing) with the given flags. */
  static open(path: string, flags = 'w+', size = 0): StandinFile {
    return new StandinFile(openSync(path, flags), path, size, true);
  }

  get size(): number {
    if (this.#closed) throw new DisposedError('ERR_DMEM_FILE_CLOSED', `${this.path} is closed`);
    return this.fixedSize || fstatSync(this.fd).size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  onClose(hook: () => void): () => void {
    this.#hooks.add(hook);
    return () => this.#hooks.delete(hook);
  }

  close(): void {
    if (this.#closed) return;
    for (const hook of [...this.#hooks]) hook();
    this.#hooks.clear();
    this.#closed = true;
    if (this.ownsFd) closeSync(this.fd);
  }
}

export class StandinDeviceBuffer {
  #freed = false;
  readonly #hooks = new Set<() => void>();

  constructor(
    readonly address: bigint,
    readonly size: number,
    readonly device: number,
  ) {}

  get freed(): boolean {
    return this.#freed;
  }

  onFree(hook: () => void): () => void {
    this.#hooks.add(hook);
    return () => this.#hooks.delete(hook);
  }

  free(): void {
    if (this.#freed) return;
    for (const hook of [...this.#hooks]) hook();
    this.#hooks.clear();
    this.#freed = true;
  }
}

const fileKind: NixlMemoryKind<StandinFile> = {
  name: 'file',
  memType: 'FILE',
  matches: (value): value is StandinFile => value instanceof StandinFile,
  describe: (file) => ({ addr: 0n, size: BigInt(file.size), devId: BigInt(file.fd) }),
  onRelease: (file, hook) => file.onClose(hook),
};

const deviceKind: NixlMemoryKind<StandinDeviceBuffer> = {
  name: 'device',
  memType: 'VRAM',
  matches: (value): value is StandinDeviceBuffer => value instanceof StandinDeviceBuffer,
  describe(buffer) {
    if (buffer.freed) throw new DisposedError('ERR_DMEM_DEVICE_FREED', 'device buffer freed');
    return { addr: buffer.address, size: BigInt(buffer.size), devId: BigInt(buffer.device) };
  },
  onRelease: (buffer, hook) => buffer.onFree(hook),
};

export const standinKinds = [fileKind, deviceKind] as NixlMemoryKind[];
