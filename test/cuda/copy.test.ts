import { randomFillSync } from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import {
  allocate,
  allocateDevice,
  allocatePinned,
  BusyError,
  copyDeviceToDevice,
  copyFromDevice,
  copyToDevice,
  DisposedError,
  InvalidArgumentError,
} from '../../lib/index.js';

import { useStandIn } from './helpers.js';

beforeAll(() => {
  useStandIn();
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('copyToDevice() and copyFromDevice()', () => {
  it('round-trip bytes between a host buffer and device memory off the event loop', async () => {
    using source = allocate(1 << 20);
    using target = allocate(1 << 20);
    using device = allocateDevice(1 << 20);
    randomFillSync(source.bytes);
    await copyToDevice(device, source);
    await copyFromDevice(target, device);
    expect(Buffer.compare(target.buffer, source.buffer)).toBe(0);
  });

  it('honours offsets and lengths on both sides', async () => {
    using host = allocate(8192);
    using out = allocatePinned(8192);
    using device = allocateDevice(4096);
    host.bytes.fill(7, 0, 4096).fill(9, 4096);
    await copyToDevice(device, host, { sourceOffset: 4096, destinationOffset: 100, length: 10 });
    await copyFromDevice(out, device, { sourceOffset: 98, destinationOffset: 5000, length: 14 });
    expect([...out.bytes.subarray(5000, 5014)]).toEqual([
      0xa5, 0xa5, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0xa5, 0xa5,
    ]);
  });

  it('copies nothing for length 0', async () => {
    using host = allocate(4096);
    using device = allocateDevice(4096);
    await expect(copyToDevice(device, host, { length: 0 })).resolves.toBeUndefined();
  });

  it.each([
    [{ length: 4097 }, 'source range [0, 4097) to lie inside its 4096 bytes'],
    [{ sourceOffset: 4000, length: 97 }, 'source range [4000, 4097)'],
    [{ destinationOffset: 1, length: 4096 }, 'destination range [1, 4097) to lie inside its 4096'],
  ])('refuses %j with ERR_DMEM_OUT_OF_BOUNDS before touching memory', async (options, text) => {
    using host = allocate(4096);
    using device = allocateDevice(4096);
    const error = await rejection(copyToDevice(device, host, options));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ code: 'ERR_DMEM_OUT_OF_BOUNDS' });
    expect((error as Error).message).toContain(text);
  });

  it('checks bounds in the binding too, when the TS checks are bypassed', async () => {
    const { native } = await import('../../lib/binding.js');
    const { nativeHandleOf } = await import('../../lib/host-buffer.js');
    const { deviceHandleOf } = await import('../../lib/cuda/device-buffer.js');
    using host = allocate(4096);
    using device = allocateDevice(4096);
    expect(() =>
      native().cudaCopy('htod', deviceHandleOf(device), 0, nativeHandleOf(host), 1, 4096),
    ).toThrow(expect.objectContaining({ code: 'ERR_DMEM_OUT_OF_BOUNDS' }));
    expect(() =>
      native().cudaCopy('htod', nativeHandleOf(host), 0, nativeHandleOf(host), 0, 1),
    ).toThrow(expect.objectContaining({ code: 'ERR_DMEM_INVALID_ARGUMENT' }));
  });

  it('rejects the wrong kind of buffer on either side', async () => {
    using host = allocate(4096);
    using device = allocateDevice(4096);
    const error = await rejection(copyToDevice(host as never, device as never));
    expect(error).toMatchObject({
      name: 'InvalidArgumentError',
      code: 'ERR_DMEM_INVALID_ARGUMENT',
    });
    expect((error as Error).message).toBe(
      'Expected destination to be a DeviceBuffer, received instance of HostBuffer',
    );
    const plain = await rejection(copyToDevice(device, Buffer.alloc(4096) as never));
    expect(plain).toMatchObject({ code: 'ERR_DMEM_INVALID_ARGUMENT' });
    const unknown = await rejection(copyToDevice(device, host, { offset: 1 } as never));
    expect(unknown).toMatchObject({ code: 'ERR_DMEM_UNKNOWN_OPTION' });
  });

  it('refuses freed buffers with DisposedError', async () => {
    const host = allocate(4096);
    const device = allocateDevice(4096);
    device.free();
    const error = await rejection(copyToDevice(device, host));
    expect(error).toBeInstanceOf(DisposedError);
    expect(error).toMatchObject({ code: 'ERR_DMEM_DEVICE_BUFFER_FREED' });
    host.free();
  });

  it('holds both buffers while the copy runs: free() throws BusyError, then works', async () => {
    using host = allocate(16 << 20);
    using device = allocateDevice(16 << 20);
    const copying = copyToDevice(device, host);
    expect(() => device.free()).toThrow(BusyError);
    expect(() => device.free()).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_DEVICE_BUFFER_BUSY' }),
    );
    expect(() => host.free()).toThrow(expect.objectContaining({ code: 'ERR_DMEM_BUFFER_BUSY' }));
    await copying;
    device.free();
    expect(device.freed).toBe(true);
  });

  it('runs many copies at once on worker threads, each with the context current', async () => {
    using device = allocateDevice(64 * 4096);
    const hosts = Array.from({ length: 64 }, (_, index) => {
      const host = allocate(4096);
      host.bytes.fill(index);
      return host;
    });
    await Promise.all(
      hosts.map((host, index) => copyToDevice(device, host, { destinationOffset: index * 4096 })),
    );
    using all = allocate(64 * 4096);
    await copyFromDevice(all, device);
    for (let index = 0; index < 64; index++) expect(all.bytes[index * 4096 + 17]).toBe(index);
    for (const host of hosts) host.free();
  });
});

describe('copyDeviceToDevice()', () => {
  it('copies between devices and within one', async () => {
    using host = allocate(4096);
    using a = allocateDevice(4096);
    using b = allocateDevice(4096, { device: 1 });
    host.bytes.fill(3);
    await copyToDevice(a, host);
    await copyDeviceToDevice(b, a, { length: 2048 });
    await copyDeviceToDevice(b, b, { sourceOffset: 0, destinationOffset: 2048, length: 2048 });
    host.bytes.fill(0);
    await copyFromDevice(host, b);
    expect(host.bytes.every((byte) => byte === 3)).toBe(true);
  });
});
