/**
 * How this package's memory objects become NIXL descriptors. Each kind of memory (host buffers,
 * O_DIRECT files, CUDA device buffers) plugs in a `NixlMemoryKind`; the mapping is decided here
 * and nowhere else:
 *
 * | memory | memType | addr | length | devId |
 * |---|---|---|---|---|
 * | host, locked or pinned buffer | DRAM | address + offset | bytes | 0 |
 * | device buffer | VRAM | device address + offset | bytes | CUDA ordinal |
 * | O_DIRECT file | FILE | file offset | bytes | file descriptor |
 *
 * Device memory is never described as DRAM, and callers cannot label memory themselves: the kind
 * is taken from the object, so host memory cannot be registered as VRAM or the reverse.
 */
import { DisposedError, describeValue, InvalidArgumentError, invalidArgument } from '../errors.js';

/** NIXL memory types this package registers. */
export type NixlMemType = 'DRAM' | 'VRAM' | 'FILE';

/** One NIXL descriptor: what a peer needs to address a registered region. */
export interface NixlDescriptor {
  memType: NixlMemType;
  /** Virtual or device address; for files, the offset in the file. */
  addr: bigint;
  /** Length in bytes. */
  length: bigint;
  /** 0 for host memory, the CUDA ordinal for device memory, the descriptor for files. */
  devId: bigint;
}

/** @internal A kind of memory object NIXL can register. */
export interface NixlMemoryKind<T extends object = object> {
  /** `host`, `device` or `file`: for messages. */
  readonly name: string;
  readonly memType: NixlMemType;
  matches(value: unknown): value is T;
  /**
   * The whole object as (addr, size, devId); addr is the file offset 0 for files.
   * @throws {DisposedError} when the object was freed or closed.
   */
  describe(value: T): { addr: bigint; size: bigint; devId: bigint };
  /** Runs `hook` before the object's memory goes away; returns the remover. */
  onRelease(value: T, hook: () => void): () => void;
}

const kinds: NixlMemoryKind[] = [];

/** @internal Adds a kind; later kinds are tried first. */
export function addMemoryKind<T extends object>(kind: NixlMemoryKind<T>): void {
  kinds.unshift(kind as unknown as NixlMemoryKind);
}

/** @internal The kind of a memory object, or undefined. */
export function kindOf(value: unknown): NixlMemoryKind | undefined {
  return kinds.find((kind) => kind.matches(value));
}

/**
 * A region of a memory object: the whole object, or `{ memory, offset, length }` for part of it
 * (`offset` defaults to 0, `length` to the rest of the object).
 */
export type NixlRegionSpec<M extends object = object> =
  M | { memory: M; offset?: number | bigint; length?: number | bigint };

/** @internal A resolved region of one memory object. */
export interface Region extends NixlDescriptor {
  owner: object;
  kind: NixlMemoryKind;
}

/**
 * @internal Resolves a region spec to its descriptor.
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT` for an object that is not NIXL
 *   memory or a range outside it. {DisposedError} when the memory was freed or closed.
 */
export function resolveRegion(spec: unknown, name: string): Region {
  let memory: unknown = spec;
  let offset: unknown;
  let length: unknown;
  if (spec !== null && typeof spec === 'object' && 'memory' in spec && kindOf(spec) === undefined) {
    ({ memory, offset, length } = spec as { memory: unknown; offset?: unknown; length?: unknown });
  }
  const kind = kindOf(memory);
  if (!kind) {
    throw invalidArgument(
      name,
      'a HostBuffer, a DeviceBuffer, a DirectFile or { memory, offset?, length? }',
      memory,
    );
  }

  const whole = kind.describe(memory as object);
  const start = bigintOf(offset, `${name}.offset`, 0n);
  if (start > whole.size) {
    throw rangeError(name, 'offset', start, whole.size);
  }
  const size = bigintOf(length, `${name}.length`, whole.size - start);
  if (size === 0n) throw invalidArgument(`${name}.length`, 'at least 1 byte', length ?? 0);
  if (start + size > whole.size)
    throw rangeError(name, 'offset + length', start + size, whole.size);

  return {
    memType: kind.memType,
    addr: whole.addr + start,
    length: size,
    devId: whole.devId,
    owner: memory as object,
    kind,
  };
}

/** @internal A plain descriptor supplied by the caller for a peer's memory. */
export function remoteDescriptor(spec: unknown, name: string): NixlDescriptor {
  if (spec === null || typeof spec !== 'object') {
    throw invalidArgument(name, 'a descriptor { memType, addr, length, devId }', spec);
  }
  const raw = spec as Record<string, unknown>;
  if (!['DRAM', 'VRAM', 'FILE'].includes(raw.memType as string)) {
    throw invalidArgument(`${name}.memType`, 'one of DRAM, VRAM, FILE', raw.memType);
  }
  const length = bigintOf(raw.length, `${name}.length`, undefined);
  if (length === 0n) throw invalidArgument(`${name}.length`, 'at least 1 byte', raw.length);
  return {
    memType: raw.memType as NixlMemType,
    addr: bigintOf(raw.addr, `${name}.addr`, undefined),
    length,
    devId: bigintOf(raw.devId, `${name}.devId`, 0n),
  };
}

/** @internal Packs descriptors as (addr, len, devId) triples for the addon. */
export function packDescriptors(descs: readonly NixlDescriptor[]): BigUint64Array {
  const out = new BigUint64Array(descs.length * 3);
  descs.forEach((desc, i) => {
    out[3 * i] = desc.addr;
    out[3 * i + 1] = desc.length;
    out[3 * i + 2] = desc.devId;
  });
  return out;
}

/** @internal A stable key for one region: type, addr, length and devId. */
export function regionKey(desc: NixlDescriptor): string {
  return `${desc.memType}:${desc.addr}:${desc.length}:${desc.devId}`;
}

/** @internal The public, plain form of a region. */
export function plainDescriptor(desc: NixlDescriptor): NixlDescriptor {
  return { memType: desc.memType, addr: desc.addr, length: desc.length, devId: desc.devId };
}

/** @internal Throws the DisposedError a kind reports for freed or closed memory. */
export function disposed(code: string, message: string): DisposedError {
  return new DisposedError(code, message);
}

const maxU64 = 2n ** 64n - 1n;

function bigintOf(value: unknown, name: string, fallback: bigint | undefined): bigint {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'bigint' && value >= 0n && value <= maxU64) return value;
  throw invalidArgument(name, 'a non-negative integer (number or bigint)', value);
}

function rangeError(name: string, what: string, value: bigint, size: bigint) {
  return new InvalidArgumentError(
    'ERR_DMEM_INVALID_ARGUMENT',
    `Expected ${name} ${what} to be at most the memory's size ${size}, received ${describeValue(value)}`,
  );
}
