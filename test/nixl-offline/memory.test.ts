// Descriptor mapping for every memory kind: the real HostBuffer and DirectFile, and stand-in file
// and device kinds with the same shapes (device.test.ts maps real DeviceBuffers through the CUDA
// stand-in).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { openFile } from '../../lib/direct-file.js';

import { DisposedError, InvalidArgumentError } from '../../lib/errors.js';
import { allocate } from '../../lib/host-buffer.js';
import '../../lib/nixl/kinds.js';
import {
  addMemoryKind,
  kindOf,
  packDescriptors,
  regionKey,
  remoteDescriptor,
  resolveRegion,
} from '../../lib/nixl/memory.js';

import { StandinDeviceBuffer, StandinFile, standinKinds } from './kinds.js';

standinKinds.forEach((kind) => addMemoryKind(kind));

function expectError(call: () => unknown, Class: Function, code: string, message?: RegExp) {
  let thrown: unknown;
  try {
    call();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(Class);
  expect(thrown).toMatchObject({ code });
  if (message) expect((thrown as Error).message).toMatch(message);
}

describe('resolveRegion() for host memory', () => {
  it('describes a host buffer as DRAM at its address with devId 0', () => {
    using buffer = allocate(8192);
    expect(resolveRegion(buffer, 'memory')).toMatchObject({
      memType: 'DRAM',
      addr: buffer.address,
      length: 8192n,
      devId: 0n,
      owner: buffer,
    });
  });

  it('describes locked host memory the same way', () => {
    using buffer = allocate(4096, { lock: false });
    expect(resolveRegion(buffer, 'memory').memType).toBe('DRAM');
  });

  it('shifts the address by the offset and defaults the length to the rest', () => {
    using buffer = allocate(8192);
    expect(resolveRegion({ memory: buffer, offset: 4096 }, 'memory')).toMatchObject({
      addr: buffer.address + 4096n,
      length: 4096n,
    });
    expect(resolveRegion({ memory: buffer, offset: 1n, length: 2n }, 'memory')).toMatchObject({
      addr: buffer.address + 1n,
      length: 2n,
    });
  });

  it('rejects a range outside the buffer', () => {
    using buffer = allocate(4096);
    expectError(
      () => resolveRegion({ memory: buffer, offset: 4000, length: 200 }, 'memory[0]'),
      InvalidArgumentError,
      'ERR_DMEM_INVALID_ARGUMENT',
      /memory\[0\] offset \+ length to be at most the memory's size 4096, received bigint 4200n/,
    );
    expectError(
      () => resolveRegion({ memory: buffer, offset: 4097 }, 'memory'),
      InvalidArgumentError,
      'ERR_DMEM_INVALID_ARGUMENT',
    );
    expectError(
      () => resolveRegion({ memory: buffer, offset: 4096 }, 'memory'),
      InvalidArgumentError,
      'ERR_DMEM_INVALID_ARGUMENT',
      /at least 1 byte/,
    );
    expectError(
      () => resolveRegion({ memory: buffer, offset: -1 }, 'memory'),
      InvalidArgumentError,
      'ERR_DMEM_INVALID_ARGUMENT',
      /memory\.offset to be a non-negative integer/,
    );
  });

  it('refuses a freed buffer with DisposedError ERR_DMEM_BUFFER_FREED', () => {
    const buffer = allocate(4096);
    buffer.free();
    expectError(() => resolveRegion(buffer, 'memory'), DisposedError, 'ERR_DMEM_BUFFER_FREED');
  });

  it('refuses things that are not NIXL memory, naming what it accepts', () => {
    for (const value of [Buffer.alloc(4096), new Uint8Array(8), 42, null, { memory: 'x' }]) {
      expectError(
        () => resolveRegion(value, 'memory'),
        InvalidArgumentError,
        'ERR_DMEM_INVALID_ARGUMENT',
        /Expected memory to be a HostBuffer, a DeviceBuffer, a DirectFile/,
      );
    }
  });
});

describe('resolveRegion() for device memory', () => {
  it('describes device memory as VRAM with the CUDA ordinal as devId, never as DRAM', () => {
    const device = new StandinDeviceBuffer(0x7f00_0000_0000n, 1 << 20, 3);
    const region = resolveRegion({ memory: device, offset: 4096, length: 4096 }, 'memory');
    expect(region).toMatchObject({
      memType: 'VRAM',
      addr: 0x7f00_0000_1000n,
      length: 4096n,
      devId: 3n,
    });
    expect(kindOf(device)?.name).toBe('device');
  });

  it('refuses freed device memory', () => {
    const device = new StandinDeviceBuffer(0x1000n, 4096, 0);
    device.free();
    expectError(() => resolveRegion(device, 'memory'), DisposedError, 'ERR_DMEM_DEVICE_FREED');
  });
});

describe('resolveRegion() for O_DIRECT files', () => {
  it('describes a file as FILE with the file offset as addr and the descriptor as devId', () => {
    const file = new StandinFile(17, '/data/kv.bin', 1 << 20);
    expect(resolveRegion(file, 'memory')).toMatchObject({
      memType: 'FILE',
      addr: 0n,
      length: 1048576n,
      devId: 17n,
    });
    expect(resolveRegion({ memory: file, offset: 8192, length: 4096 }, 'memory')).toMatchObject({
      addr: 8192n,
      length: 4096n,
      devId: 17n,
    });
  });

  it('refuses a closed file', () => {
    const file = new StandinFile(17, '/data/kv.bin', 4096);
    file.close();
    expectError(() => resolveRegion(file, 'memory'), DisposedError, 'ERR_DMEM_FILE_CLOSED');
  });

  it('needs a length for an empty file', () => {
    const file = new StandinFile(3, '/data/empty.bin', 0);
    expectError(
      () => resolveRegion(file, 'memory'),
      InvalidArgumentError,
      'ERR_DMEM_INVALID_ARGUMENT',
      /at least 1 byte/,
    );
  });
});

describe('resolveRegion() for a DirectFile', () => {
  it('maps the real O_DIRECT file class the same way, and refuses it once closed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dmem-nixl-file-'));
    try {
      const name = path.join(dir, 'kv.bin');
      writeFileSync(name, Buffer.alloc(12288));
      const file = openFile(name, { write: true });
      expect(kindOf(file)?.name).toBe('file');
      expect(resolveRegion({ memory: file, offset: 4096 }, 'memory')).toEqual(
        expect.objectContaining({
          memType: 'FILE',
          addr: 4096n,
          length: 8192n,
          devId: BigInt(file.fd),
        }),
      );
      await file.close();
      expectError(() => resolveRegion(file, 'memory'), DisposedError, 'ERR_DMEM_FILE_CLOSED');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('remoteDescriptor()', () => {
  it('accepts a peer’s plain descriptor, numbers or bigints', () => {
    expect(
      remoteDescriptor({ memType: 'VRAM', addr: 4096, length: 10n, devId: 1 }, 'remote[0]'),
    ).toEqual({ memType: 'VRAM', addr: 4096n, length: 10n, devId: 1n });
  });

  it('rejects an unknown memory type or a bad number', () => {
    expectError(
      () => remoteDescriptor({ memType: 'HBM', addr: 0, length: 1 }, 'remote[0]'),
      InvalidArgumentError,
      'ERR_DMEM_INVALID_ARGUMENT',
      /remote\[0\]\.memType to be one of DRAM, VRAM, FILE, received string "HBM"/,
    );
    expectError(
      () => remoteDescriptor({ memType: 'DRAM', addr: 1.5, length: 1 }, 'remote[0]'),
      InvalidArgumentError,
      'ERR_DMEM_INVALID_ARGUMENT',
    );
    expectError(
      () => remoteDescriptor({ memType: 'DRAM', addr: 0, length: 2n ** 64n }, 'r'),
      InvalidArgumentError,
      'ERR_DMEM_INVALID_ARGUMENT',
    );
  });
});

describe('packDescriptors()', () => {
  it('packs (addr, len, devId) triples in order', () => {
    const packed = packDescriptors([
      { memType: 'DRAM', addr: 1n, length: 2n, devId: 0n },
      { memType: 'DRAM', addr: 2n ** 63n, length: 4n, devId: 5n },
    ]);
    expect([...packed]).toEqual([1n, 2n, 0n, 2n ** 63n, 4n, 5n]);
  });
});

describe('regionKey()', () => {
  it('tells regions apart by type, address, length and devId', () => {
    const base = { memType: 'DRAM' as const, addr: 1n, length: 2n, devId: 0n };
    const keys = new Set([
      regionKey(base),
      regionKey({ ...base, memType: 'VRAM' }),
      regionKey({ ...base, addr: 2n }),
      regionKey({ ...base, length: 3n }),
      regionKey({ ...base, devId: 1n }),
    ]);
    expect(keys.size).toBe(5);
  });
});
