// Device memory through NIXL without a GPU: real DeviceBuffers from the CUDA stand-in driver
// (test/support/cuda-stand-in) registered with the NIXL C API stand-in. Checks the VRAM mapping
// (never DRAM, devId = CUDA ordinal), refusal by a storage-only backend (case B18) and
// deregistration before free.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { allocateDevice } from '../../lib/cuda/device-buffer.js';
import { releaseCuda } from '../../lib/cuda/teardown.js';
import { NixlError } from '../../lib/errors.js';
import { NixlAgent } from '../../lib/nixl/agent.js';
import { resolveRegion } from '../../lib/nixl/memory.js';
import { useStandIn } from '../cuda/helpers.js';

import { buildPrefix, compiler, removePrefix } from './standin.js';

let prefix: string | undefined;
let dir: string;
let log: string;

beforeAll(() => {
  if (!compiler) return;
  useStandIn();
  prefix = buildPrefix();
  process.env.NIXL_PREFIX = prefix;
  dir = mkdtempSync(path.join(tmpdir(), 'dmem-nixl-device-'));
  log = path.join(dir, 'standin.log');
  process.env.NIXL_STANDIN_LOG = log;
});

afterAll(() => {
  removePrefix(prefix);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function ops(): string[] {
  return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
}

describe.skipIf(!compiler)('NIXL with device memory (CUDA and NIXL stand-ins)', () => {
  it('describes a device buffer as VRAM with its CUDA ordinal as devId', () => {
    using buffer = allocateDevice(1 << 16, { device: 1 });
    expect(resolveRegion({ memory: buffer, offset: 4096 }, 'memory')).toMatchObject({
      memType: 'VRAM',
      addr: buffer.address + 4096n,
      length: BigInt((1 << 16) - 4096),
      devId: 1n,
    });
  });

  it('registers device memory as VRAM on UCX and deregisters it before free', () => {
    using agent = NixlAgent.create('vram');
    agent.createBackend('UCX');
    const buffer = allocateDevice(8192, { device: 1 });
    writeFileSync(log, '');
    const registration = agent.register(buffer);
    expect(registration.descriptors[0]).toMatchObject({ memType: 'VRAM', devId: 1n });
    expect(ops()).toEqual(['register_mem vram UCX mem=1 len=8192 dev=1']);
    buffer.free();
    expect(registration.registered).toBe(false);
    expect(ops()).toEqual([
      'register_mem vram UCX mem=1 len=8192 dev=1',
      'deregister_mem vram UCX mem=1 len=8192 dev=1',
    ]);
  });

  it('deregisters device memory before releaseCuda() takes it', () => {
    using agent = NixlAgent.create('vram-release');
    agent.createBackend('UCX');
    const buffer = allocateDevice(8192, { device: 1 });
    writeFileSync(log, '');
    const registration = agent.register(buffer);
    expect(releaseCuda()).toBeGreaterThan(0);
    expect(registration.registered).toBe(false);
    expect(buffer.freed).toBe(true);
    expect(ops()).toEqual([
      'register_mem vram-release UCX mem=1 len=8192 dev=1',
      'deregister_mem vram-release UCX mem=1 len=8192 dev=1',
    ]);
  });

  it('refuses VRAM on a storage-only backend before NIXL sees it, naming type and backend', () => {
    using agent = NixlAgent.create('posix-only');
    agent.createBackend('POSIX');
    using buffer = allocateDevice(4096);
    writeFileSync(log, '');
    let thrown: unknown;
    try {
      agent.register(buffer);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(NixlError);
    expect(thrown).toMatchObject({ code: 'ERR_DMEM_NIXL_NO_BACKEND' });
    expect((thrown as Error).message).toMatch(
      /Cannot register device memory as VRAM: no backend of agent posix-only does \(POSIX\)/,
    );
    expect(() => agent.register(buffer, { backends: ['POSIX'] })).toThrow(
      /the POSIX backend registers DRAM, FILE/,
    );
    expect(ops()).toEqual([]);
    agent.close();
    expect(agent.closed).toBe(true);
  });
});
