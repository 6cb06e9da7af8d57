// Reference counting and release order of the registration table, with a recording driver in
// place of NIXL.
import { describe, expect, it } from 'vitest';

import { BusyError, NixlError } from '../../lib/errors.js';
import { addMemoryKind, type Region, resolveRegion } from '../../lib/nixl/memory.js';
import { type Holder, RegistrationTable } from '../../lib/nixl/registration-table.js';

import { StandinDeviceBuffer, StandinFile, standinKinds } from './kinds.js';

standinKinds.forEach((kind) => addMemoryKind(kind));

type Call = [op: 'register' | 'deregister', memType: number, descs: bigint[], backend: string];

function recorder(failOn?: (call: Call) => boolean) {
  const calls: Call[] = [];
  const table = new RegistrationTable({
    register(memType, descs, backend) {
      const call: Call = ['register', memType, [...descs], backend];
      if (failOn?.(call)) throw new NixlError('NIXL_ERR_BACKEND', 'refused');
      calls.push(call);
    },
    deregister(memType, descs, backend) {
      calls.push(['deregister', memType, [...descs], backend]);
    },
  });
  return { table, calls };
}

class TestHolder implements Holder {
  busy = false;
  invalidated: string[] = [];
  records: ReturnType<RegistrationTable['acquire']> = [];
  constructor(private readonly table?: RegistrationTable) {}
  invalidate(reason: string): void {
    this.invalidated.push(reason);
    this.table?.release(this, this.records);
  }
}

function file(fd = 9, size = 8192): StandinFile {
  return new StandinFile(fd, `/f${fd}`, size);
}

function plan(region: Region, ...backends: string[]) {
  return { region, backends };
}

describe('RegistrationTable#acquire()', () => {
  it('registers a region once per backend and shares it between holders', () => {
    const { table, calls } = recorder();
    const f = file();
    const region = resolveRegion(f, 'm');
    const first = new TestHolder();
    const second = new TestHolder();
    const a = table.acquire(first, [plan(region, 'POSIX')]);
    const b = table.acquire(second, [plan(region, 'POSIX')]);
    expect(a[0]).toBe(b[0]);
    expect(calls).toEqual([['register', 4, [0n, 8192n, 9n], 'POSIX']]);
    expect(table.size).toBe(1);
  });

  it('makes one call per (memory type, backend) for a list', () => {
    const { table, calls } = recorder();
    const regions = [file(3), file(4), file(5)].map((f) => resolveRegion(f, 'm'));
    const device = resolveRegion(new StandinDeviceBuffer(0x1000n, 4096, 2), 'm');
    table.acquire(new TestHolder(), [
      ...regions.map((r) => plan(r, 'POSIX', 'GDS')),
      plan(device, 'GDS'),
    ]);
    expect(
      calls.map(([op, type, descs, backend]) => [op, type, descs.length / 3, backend]),
    ).toEqual([
      ['register', 4, 3, 'POSIX'],
      ['register', 4, 3, 'GDS'],
      ['register', 1, 1, 'GDS'],
    ]);
  });

  it('undoes what it registered when a later call fails, and registers nothing', () => {
    const { table, calls } = recorder((call) => call[3] === 'GDS');
    const f = file();
    const holder = new TestHolder();
    expect(() => table.acquire(holder, [plan(resolveRegion(f, 'm'), 'POSIX', 'GDS')])).toThrow(
      NixlError,
    );
    expect(calls).toEqual([
      ['register', 4, [0n, 8192n, 9n], 'POSIX'],
      ['deregister', 4, [0n, 8192n, 9n], 'POSIX'],
    ]);
    expect(table.size).toBe(0);
  });
});

describe('RegistrationTable#release()', () => {
  it('deregisters only when the last holder lets go, on exactly the backends used', () => {
    const { table, calls } = recorder();
    const f = file();
    const region = resolveRegion(f, 'm');
    const first = new TestHolder();
    const second = new TestHolder();
    const records = table.acquire(first, [plan(region, 'POSIX', 'UCX')]);
    table.acquire(second, [plan(region, 'POSIX')]);
    calls.length = 0;

    table.release(first, records);
    expect(calls).toEqual([['deregister', 4, [0n, 8192n, 9n], 'UCX']]);
    table.release(second, records);
    expect(calls).toEqual([
      ['deregister', 4, [0n, 8192n, 9n], 'UCX'],
      ['deregister', 4, [0n, 8192n, 9n], 'POSIX'],
    ]);
    expect(table.size).toBe(0);
  });

  it('is a no-op the second time', () => {
    const { table, calls } = recorder();
    const holder = new TestHolder();
    const records = table.acquire(holder, [plan(resolveRegion(file(), 'm'), 'POSIX')]);
    table.release(holder, records);
    table.release(holder, records);
    expect(calls.filter(([op]) => op === 'deregister')).toHaveLength(1);
  });

  it('keeps a region registered while a transfer holds it', () => {
    const { table, calls } = recorder();
    const registration = new TestHolder();
    const transfer = new TestHolder();
    const records = table.acquire(registration, [plan(resolveRegion(file(), 'm'), 'POSIX')]);
    table.hold(transfer, records);
    table.release(registration, records);
    expect(calls.filter(([op]) => op === 'deregister')).toHaveLength(0);
    table.release(transfer, records);
    expect(calls.filter(([op]) => op === 'deregister')).toHaveLength(1);
  });
});

describe('RegistrationTable#covering()', () => {
  it('finds registrations that contain a range with the same type and devId', () => {
    const { table } = recorder();
    const f = file(7, 16384);
    table.acquire(new TestHolder(), [plan(resolveRegion(f, 'm'), 'POSIX')]);
    const inside = resolveRegion({ memory: f, offset: 4096, length: 4096 }, 'm');
    expect(table.covering(inside)).toHaveLength(1);
    expect(table.covering({ ...inside, devId: 8n })).toHaveLength(0);
    expect(table.covering({ ...inside, addr: 16000n })).toHaveLength(0);
    expect(table.covering({ ...inside, memType: 'DRAM' })).toHaveLength(0);
  });
});

describe('RegistrationTable when memory is released', () => {
  it('invalidates every holder, then deregisters, before the memory goes', () => {
    const { table, calls } = recorder();
    const f = file();
    const other = file(10);
    const holder = new TestHolder(table);
    holder.records = table.acquire(holder, [
      plan(resolveRegion(f, 'm'), 'POSIX'),
      plan(resolveRegion(other, 'm'), 'POSIX'),
    ]);
    calls.length = 0;

    f.close();
    expect(holder.invalidated).toEqual(['its memory was freed or closed']);
    // The holder let go of both regions, so both are deregistered (in one call).
    expect(calls).toEqual([['deregister', 4, [0n, 8192n, 9n, 0n, 8192n, 10n], 'POSIX']]);
    expect(table.size).toBe(0);
    other.close();
    expect(calls).toHaveLength(1);
  });

  it('refuses with BusyError ERR_DMEM_NIXL_IN_FLIGHT while a transfer on it is in flight', () => {
    const { table, calls } = recorder();
    const device = new StandinDeviceBuffer(0x2000n, 4096, 0);
    const transfer = new TestHolder(table);
    transfer.records = table.acquire(transfer, [plan(resolveRegion(device, 'm'), 'UCX')]);
    transfer.busy = true;
    let thrown: unknown;
    try {
      device.free();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BusyError);
    expect(thrown).toMatchObject({ code: 'ERR_DMEM_NIXL_IN_FLIGHT' });
    expect(device.freed).toBe(false);
    expect(calls.filter(([op]) => op === 'deregister')).toHaveLength(0);

    transfer.busy = false;
    device.free();
    expect(device.freed).toBe(true);
    expect(calls.filter(([op]) => op === 'deregister')).toHaveLength(1);
  });

  it('stops watching memory once nothing of it is registered', () => {
    const { table } = recorder();
    const f = file();
    const holder = new TestHolder();
    const records = table.acquire(holder, [plan(resolveRegion(f, 'm'), 'POSIX')]);
    table.release(holder, records);
    f.close();
    expect(holder.invalidated).toEqual([]);
  });
});

describe('RegistrationTable#releaseAll()', () => {
  it('deregisters everything whoever holds it', () => {
    const { table, calls } = recorder();
    table.acquire(new TestHolder(), [plan(resolveRegion(file(3), 'm'), 'POSIX')]);
    table.acquire(new TestHolder(), [plan(resolveRegion(file(4), 'm'), 'UCX')]);
    calls.length = 0;
    table.releaseAll();
    expect(calls.map(([op, , , backend]) => [op, backend])).toEqual([
      ['deregister', 'POSIX'],
      ['deregister', 'UCX'],
    ]);
    expect(table.size).toBe(0);
  });
});
