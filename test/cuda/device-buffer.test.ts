import { beforeAll, describe, expect, it } from 'vitest';

import { native } from '../../lib/binding.js';
import {
  allocate,
  allocateDevice,
  copyToDevice,
  cudaDevices,
  CudaError,
  DeviceBuffer,
  DisposedError,
  InvalidArgumentError,
  releaseCuda,
} from '../../lib/index.js';
import { deviceAllocationOf, onFree, pointerKind } from '../../lib/cuda/device-buffer.js';
import { normalizeBusId, numaNodeOf, sysfsSettings } from '../../lib/cuda/devices.js';

import { useStandIn } from './helpers.js';

const owners = (device: number) => native().cudaContextOwners(device);

beforeAll(() => {
  // 64 MiB of "device memory" per device, so that running out is cheap to provoke.
  useStandIn({ DMEM_CUDA_STAND_IN_MEMORY: String(64 << 20) });
});

describe('cudaDevices()', () => {
  it('describes every device: name, UUID, PCI bus id, compute capability and memory', () => {
    const devices = cudaDevices();
    expect(devices).toHaveLength(2);
    expect(devices[1]).toMatchObject({
      ordinal: 1,
      name: 'CUDA stand-in device 1',
      uuid: 'GPU-10111213-1415-1617-1819-1a1b1c1d1e1f',
      pciBusId: '0000:66:00.0',
      computeCapability: '9.0',
      totalMemory: 64 << 20,
      freeMemory: 64 << 20,
    });
  });

  it('reports free memory as the driver sees it and releases the context it retained', () => {
    using buffer = allocateDevice(8 << 20);
    expect(buffer.size).toBe(8 << 20);
    expect(cudaDevices()[0]!.freeMemory).toBe(56 << 20);
    expect(owners(0)).toBe(1);
    expect(cudaDevices({ freeMemory: false })[0]!.freeMemory).toBeNull();
  });

  it('never throws, even for malformed options', () => {
    expect(cudaDevices(null as never)).toHaveLength(2);
  });
});

describe('numaNodeOf()', () => {
  it('reads the node from sysfs and treats -1 and a missing file as unknown', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const root = mkdtempSync(path.join(os.tmpdir(), 'dmem-sysfs-'));
    const saved = sysfsSettings.root;
    try {
      for (const [bus, node] of [
        ['0000:65:00.0', '1\n'],
        ['0000:66:00.0', '-1\n'],
      ] as const) {
        mkdirSync(path.join(root, 'bus/pci/devices', bus), { recursive: true });
        writeFileSync(path.join(root, 'bus/pci/devices', bus, 'numa_node'), node);
      }
      sysfsSettings.root = root;
      expect(numaNodeOf('0000:65:00.0')).toBe(1);
      expect(numaNodeOf('0000:66:00.0')).toBeNull();
      expect(numaNodeOf('0000:67:00.0')).toBeNull();
      expect(cudaDevices().map((device) => device.numaNode)).toEqual([1, null]);
    } finally {
      sysfsSettings.root = saved;
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('normalises the driver bus id to the sysfs spelling', () => {
    expect(normalizeBusId('00000000:3B:00.0')).toBe('0000:3b:00.0');
    expect(normalizeBusId('0000:65:00.0')).toBe('0000:65:00.0');
  });
});

describe('allocateDevice()', () => {
  it('returns a buffer with its size, device and a non-zero device address', () => {
    using buffer = allocateDevice(4096, { device: 1 });
    expect(buffer).toBeInstanceOf(DeviceBuffer);
    expect(buffer.device).toBe(1);
    expect(typeof buffer.address).toBe('bigint');
    expect(buffer.address).not.toBe(0n);
    expect(pointerKind(buffer.address)).toEqual({ kind: 'device', device: 1 });
  });

  it.each([0, -1, 1.5, Number.NaN, '4096', 2 ** 53])('rejects size %j', (size) => {
    expect(() => allocateDevice(size as number)).toThrow(
      expect.objectContaining({ name: 'InvalidArgumentError', code: 'ERR_DMEM_INVALID_ARGUMENT' }),
    );
  });

  it('rejects unknown options and bad device values', () => {
    expect(() => allocateDevice(1, { devise: 0 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_UNKNOWN_OPTION' }),
    );
    expect(() => allocateDevice(1, { device: -1 })).toThrow(InvalidArgumentError);
  });

  it('rejects an ordinal the driver does not have', () => {
    let error: unknown;
    try {
      allocateDevice(4096, { device: 2 });
    } catch (failure) {
      error = failure;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ code: 'ERR_DMEM_CUDA_INVALID_DEVICE', deviceCount: 2 });
  });

  it('surfaces CUDA_ERROR_OUT_OF_MEMORY as a CudaError with the driver description', () => {
    let error: unknown;
    try {
      allocateDevice(65 << 20);
    } catch (failure) {
      error = failure;
    }
    expect(error).toBeInstanceOf(CudaError);
    expect(error).toMatchObject({
      code: 'CUDA_ERROR_OUT_OF_MEMORY',
      call: 'cuMemAlloc',
      description: 'out of memory',
    });
    expect((error as Error).message).toBe(
      'cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)',
    );
    expect(owners(0)).toBe(0);
  });
});

describe('DeviceBuffer#free()', () => {
  it('releases the memory and the context reference, and is idempotent', () => {
    const buffer = allocateDevice(4096);
    expect(owners(0)).toBe(1);
    expect(buffer.freed).toBe(false);
    buffer.free();
    buffer.free();
    expect(buffer.freed).toBe(true);
    expect(owners(0)).toBe(0);
    expect(pointerKind(buffer.address).kind).toBe('unknown');
  });

  it('shares one retained context among all buffers of a device', () => {
    const a = allocateDevice(4096);
    const b = allocateDevice(4096);
    expect(owners(0)).toBe(2);
    a.free();
    expect(owners(0)).toBe(1);
    b[Symbol.dispose]();
    expect(owners(0)).toBe(0);
  });

  it('runs onFree hooks before the memory goes, once, unless removed', () => {
    const buffer = allocateDevice(4096);
    const seen: string[] = [];
    onFree(buffer, () => seen.push(pointerKind(buffer.address).kind));
    const remove = onFree(buffer, () => seen.push('removed'));
    remove();
    buffer.free();
    buffer.free();
    expect(seen).toEqual(['device']);
  });

  it('gives NIXL the address, size and ordinal, and refuses once freed', () => {
    const buffer = allocateDevice(8192, { device: 1 });
    expect(deviceAllocationOf(buffer)).toEqual({
      address: buffer.address,
      size: 8192,
      device: 1,
    });
    buffer.free();
    expect(() => deviceAllocationOf(buffer)).toThrow(DisposedError);
    expect(() => onFree(buffer, () => {})).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_DEVICE_BUFFER_FREED' }),
    );
  });
});

describe('releaseCuda()', () => {
  it('frees every buffer of this thread and their contexts; later free() does nothing', () => {
    const buffers = [allocateDevice(4096), allocateDevice(4096, { device: 1 })];
    expect(releaseCuda()).toBe(2);
    expect(buffers.every((buffer) => buffer.freed)).toBe(true);
    expect(owners(0) + owners(1)).toBe(0);
    for (const buffer of buffers) buffer.free();
  });

  it('makes released buffers refuse NIXL and copies with DisposedError', async () => {
    const buffer = allocateDevice(4096);
    const host = allocate(4096);
    releaseCuda();
    expect(() => deviceAllocationOf(buffer)).toThrow(DisposedError);
    await expect(copyToDevice(buffer, host)).rejects.toMatchObject({
      name: 'DisposedError',
      code: 'ERR_DMEM_DEVICE_BUFFER_FREED',
    });
    host.free();
  });
});
