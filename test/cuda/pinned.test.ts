import { beforeAll, describe, expect, it } from 'vitest';

import {
  allocate,
  allocatePinned,
  BusyError,
  copyFromDevice,
  copyToDevice,
  allocateDevice,
  CudaError,
  DisposedError,
  isPinned,
  pinHostBuffer,
  PinnedHostBuffer,
  unpinHostBuffer,
} from '../../lib/index.js';
import { pointerKind } from '../../lib/cuda/device-buffer.js';

import { runWithStandIn, useStandIn } from './helpers.js';

beforeAll(() => {
  useStandIn();
});

describe('pinHostBuffer()', () => {
  it('registers the buffer with the driver until unpinHostBuffer()', () => {
    using buffer = allocate(1 << 20);
    expect(pointerKind(buffer.address).kind).toBe('unknown');
    expect(pinHostBuffer(buffer)).toBe(true);
    expect(isPinned(buffer)).toBe(true);
    expect(pointerKind(buffer.address)).toEqual({ kind: 'host', device: 0 });
    expect(pinHostBuffer(buffer)).toBe(true);
    expect(unpinHostBuffer(buffer)).toBe(true);
    expect(unpinHostBuffer(buffer)).toBe(false);
    expect(isPinned(buffer)).toBe(false);
    expect(pointerKind(buffer.address).kind).toBe('unknown');
  });

  it('makes free() unpin first, so the registration never outlives the memory', () => {
    const buffer = allocate(1 << 20);
    const address = buffer.address;
    pinHostBuffer(buffer, { device: 1 });
    buffer.free();
    expect(buffer.freed).toBe(true);
    expect(isPinned(buffer)).toBe(false);
    expect(pointerKind(address).kind).toBe('unknown');
  });

  it('refuses to unpin while a copy uses the buffer, and free() refuses too', async () => {
    using buffer = allocate(8 << 20);
    using device = allocateDevice(8 << 20);
    pinHostBuffer(buffer);
    const copying = copyToDevice(device, buffer);
    expect(() => unpinHostBuffer(buffer)).toThrow(BusyError);
    expect(() => buffer.free()).toThrow(expect.objectContaining({ code: 'ERR_DMEM_BUFFER_BUSY' }));
    await copying;
    expect(isPinned(buffer)).toBe(true);
    expect(unpinHostBuffer(buffer)).toBe(true);
  });

  it('refuses a freed buffer with DisposedError', () => {
    const buffer = allocate(4096);
    buffer.free();
    expect(() => pinHostBuffer(buffer)).toThrow(DisposedError);
    expect(() => pinHostBuffer(buffer)).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_BUFFER_FREED' }),
    );
  });

  it('rejects unknown options and bad devices', () => {
    using buffer = allocate(4096);
    expect(() => pinHostBuffer(buffer, { portable: true } as never)).toThrow(
      expect.objectContaining({ name: 'InvalidArgumentError', code: 'ERR_DMEM_UNKNOWN_OPTION' }),
    );
    expect(() => pinHostBuffer(buffer, { device: 5 })).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_CUDA_INVALID_DEVICE' }),
    );
    expect(isPinned(buffer)).toBe(false);
  });

  it('does nothing with one warning in auto mode without CUDA, and throws in require mode', () => {
    const child = runWithStandIn(
      `
      const warnings = [];
      process.on('warning', (warning) => warnings.push(warning.code));
      const buffer = cuda.allocate(4096);
      const results = [cuda.pinHostBuffer(buffer), cuda.pinHostBuffer(buffer)];
      let error;
      try { cuda.pinHostBuffer(buffer, { mode: 'require' }); } catch (failure) { error = failure; }
      await new Promise((resolve) => setImmediate(resolve));
      console.log(JSON.stringify({ results, warnings, name: error.name, code: error.code,
        reason: error.reason, off: cuda.pinHostBuffer(buffer, { mode: 'off' }) }));
      `,
      { env: { DMEM_CUDA_STAND_IN_INIT_RESULT: '34' } },
    );
    expect(child.json).toEqual({
      results: [false, false],
      warnings: ['DMEM_CUDA_UNAVAILABLE'],
      name: 'CudaUnavailableError',
      code: 'ERR_DMEM_CUDA_UNAVAILABLE',
      reason: 'stub-library',
      off: false,
    });
  });
});

describe('allocatePinned()', () => {
  it('allocates portable, device-mapped memory viewed without copies', async () => {
    using pinned = allocatePinned(4096);
    expect(pinned).toBeInstanceOf(PinnedHostBuffer);
    expect(pinned.flags).toBe(0x03);
    expect(pinned.writeCombined).toBe(false);
    expect(pinned.bytes.length).toBe(4096);
    expect(pointerKind(pinned.address)).toEqual({ kind: 'host', device: 0 });
    pinned.bytes.fill(42);
    using device = allocateDevice(4096);
    await copyToDevice(device, pinned);
    pinned.buffer.fill(0);
    await copyFromDevice(pinned, device);
    expect(pinned.bytes[4095]).toBe(42);
  });

  it('uses write-combined memory when asked and reports it', () => {
    using pinned = allocatePinned(4096, { writeCombined: 'prefer' });
    expect(pinned.writeCombined).toBe(true);
    expect(pinned.flags).toBe(0x07);
  });

  it('falls back to plain flags under prefer, and fails under require, where refused', () => {
    const child = runWithStandIn(
      `
      const pinned = cuda.allocatePinned(4096, { writeCombined: 'prefer' });
      let error;
      try { cuda.allocatePinned(4096, { writeCombined: 'require' }); } catch (e) { error = e; }
      console.log(JSON.stringify({ writeCombined: pinned.writeCombined, flags: pinned.flags,
        name: error.name, code: error.code }));
      `,
      { env: { DMEM_CUDA_STAND_IN_NO_WC: '1' } },
    );
    expect(child.json).toEqual({
      writeCombined: false,
      flags: 3,
      name: 'CudaError',
      code: 'CUDA_ERROR_INVALID_VALUE',
    });
  });

  it('rejects a bad writeCombined value', () => {
    expect(() => allocatePinned(4096, { writeCombined: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_INVALID_ARGUMENT' }),
    );
  });
});

describe('PinnedHostBuffer#free()', () => {
  it('detaches every view before freeing, and is idempotent', () => {
    const pinned = allocatePinned(8192);
    const view = pinned.bytes.subarray(100, 200);
    const buffer = pinned.buffer;
    pinned.free();
    pinned.free();
    expect(pinned.freed).toBe(true);
    expect(view.length).toBe(0);
    expect(buffer.length).toBe(0);
    expect(pinned.bytes.length).toBe(0);
    expect(pointerKind(pinned.address).kind).toBe('unknown');
  });

  it('refuses while a copy uses it and keeps the views intact', async () => {
    using pinned = allocatePinned(8 << 20);
    using device = allocateDevice(8 << 20);
    const copying = copyToDevice(device, pinned);
    expect(() => pinned.free()).toThrow(BusyError);
    expect(pinned.bytes.length).toBe(8 << 20);
    await copying;
  });

  it('throws CudaError CUDA_ERROR_OUT_OF_MEMORY for an allocation the driver refuses', () => {
    let error: unknown;
    try {
      allocatePinned(2 ** 46);
    } catch (failure) {
      error = failure;
    }
    expect(error).toBeInstanceOf(CudaError);
    expect(error).toMatchObject({ code: 'CUDA_ERROR_OUT_OF_MEMORY', call: 'cuMemHostAlloc' });
  });
});
