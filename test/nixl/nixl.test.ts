// Against a real NIXL installation (NIXL_PREFIX, default /opt/nvidia/nvda_nixl, or the loader's
// path). Skipped, with the reason in the title, where NIXL does not load; each block also needs
// its plugin. Files live in DYNAMO_MEMORY_TEST_DIR (default test/.tmp): keep that off tmpfs so
// that O_DIRECT is real. Every wait is bounded: a transfer that hangs is cancelled and fails.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { allocateDevice } from '../../lib/cuda/device-buffer.js';
import { isCudaAvailable } from '../../lib/cuda/status.js';
import { type DirectFile, openFile } from '../../lib/direct-file.js';
import { DisposedError, NixlError } from '../../lib/errors.js';
import { allocate, type HostBuffer } from '../../lib/host-buffer.js';
import { NixlAgent, type NixlSegment } from '../../lib/nixl/agent.js';
import { nixlStatus } from '../../lib/nixl/loader.js';
import { repoRoot } from '../support/child.js';

const status = nixlStatus();
const why = status.usable ? '' : `: NIXL is ${status.state} (${status.reason})`;
// The default reporter folds skipped files into one line; say why where people read it.
if (!status.usable) console.info(`test/nixl is skipped${why}`);
const hasPosix = status.plugins.includes('POSIX');
const hasUcx = status.plugins.includes('UCX');
const timeoutMs = 30_000;
let dir = '';
let agents = 0;

beforeAll(() => {
  if (!status.usable) return;
  const base = process.env.DYNAMO_MEMORY_TEST_DIR ?? path.join(repoRoot, 'test/.tmp');
  mkdirSync(base, { recursive: true });
  dir = mkdtempSync(path.join(base, 'nixl-'));
  console.info(`NIXL: ${status.library}, plugins ${status.plugins.join(', ')}; files in ${dir}`);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Which POSIX I/O engines exist depends on how NIXL was built; io_uring is often blocked by
// seccomp. DYNAMO_MEMORY_TEST_NIXL_POSIX_ENGINE picks one; otherwise the first that starts wins.
const engines = process.env.DYNAMO_MEMORY_TEST_NIXL_POSIX_ENGINE
  ? [process.env.DYNAMO_MEMORY_TEST_NIXL_POSIX_ENGINE as 'aio' | 'uring' | 'posix_aio']
  : (['posix_aio', 'aio', 'uring'] as const);

function posixAgent(): NixlAgent {
  const agent = NixlAgent.create(`dmem-test-${process.pid}-${++agents}`);
  let failure: unknown;
  for (const engine of engines) {
    try {
      agent.createBackend('POSIX', { engine });
      return agent;
    } catch (error) {
      failure ??= error;
    }
  }
  agent.close();
  throw failure;
}

function filled(size: number, seed: number): HostBuffer {
  const buffer = allocate(size);
  for (let i = 0; i < size; i++) buffer.bytes[i] = (i * 31 + seed) & 0xff;
  return buffer;
}

function directFile(name: string, size: number, write = true, read = true): DirectFile {
  const file = path.join(dir, name);
  writeFileSync(file, Buffer.alloc(size));
  return openFile(file, { read, write, direct: 'prefer' });
}

async function move(
  agent: NixlAgent,
  op: 'READ' | 'WRITE',
  local: NixlSegment | NixlSegment[],
  remote: NixlSegment | NixlSegment[],
  options: { remoteAgent?: string; notification?: string } = {},
): Promise<void> {
  using transfer = agent.createTransfer(op, local, remote, options);
  await transfer.post({ signal: AbortSignal.timeout(timeoutMs) });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!status.usable || !hasPosix)(
  `NIXL POSIX backend (needs NIXL with POSIX${why})`,
  () => {
    it('writes host memory to an O_DIRECT file, reads it back and compares', async () => {
      using agent = posixAgent();
      using source = filled(1 << 20, 1);
      using target = allocate(1 << 20);
      const file = directFile('roundtrip.bin', 1 << 20);
      const registration = agent.register([source, target, file], { backends: ['POSIX'] });

      await move(agent, 'WRITE', source, file);
      expect(readFileSync(file.path).equals(source.buffer)).toBe(true);
      await move(agent, 'READ', target, file);
      expect(target.buffer.equals(source.buffer)).toBe(true);

      registration.deregister();
      expect(agent.registeredRegions).toBe(0);
      await file.close();
    });

    it('moves lists of many blocks to and from their file offsets', async () => {
      using agent = posixAgent();
      const blocks = 64;
      const size = 64 * 1024;
      const sources = Array.from({ length: blocks }, (_, i) => filled(size, i));
      const targets = Array.from({ length: blocks }, () => allocate(size));
      const file = directFile('blocks.bin', blocks * size);
      const registration = agent.register([...sources, ...targets, file]);

      const slots = sources.map((_, i) => ({ memory: file, offset: i * size, length: size }));
      await move(agent, 'WRITE', sources, slots);
      await move(agent, 'READ', targets, [...slots].reverse());
      targets.forEach((target, i) => {
        expect(target.buffer.equals(sources[blocks - 1 - i]!.buffer)).toBe(true);
      });

      registration.deregister();
      [...sources, ...targets].forEach((buffer) => buffer.free());
      await file.close();
    });

    it('prepares both sides once and makes requests by index', async () => {
      using agent = posixAgent();
      const buffers = [filled(4096, 7), filled(4096, 8)];
      const file = directFile('prepared.bin', 8192);
      const registration = agent.register([...buffers, file]);
      using local = agent.prepare(buffers);
      using remote = agent.prepare(
        [
          { memory: file, offset: 0, length: 4096 },
          { memory: file, offset: 4096, length: 4096 },
        ],
        { remoteAgent: agent.name },
      );
      using transfer = agent.makeTransfer('WRITE', local, [0, 1], remote, [1, 0]);
      await transfer.post({ signal: AbortSignal.timeout(timeoutMs) });
      const written = readFileSync(file.path);
      expect(written.subarray(4096).equals(buffers[0]!.buffer)).toBe(true);
      registration.deregister();
      buffers.forEach((buffer) => buffer.free());
      await file.close();
    });

    it('shares a duplicate registration and deregisters once', async () => {
      using agent = posixAgent();
      using buffer = filled(4096, 3);
      const file = directFile('dup.bin', 4096);
      const first = agent.register([buffer, file]);
      const second = agent.register([buffer, file]);
      expect(agent.registeredRegions).toBe(2);
      first.deregister();
      first.deregister();
      expect(agent.registeredRegions).toBe(2);
      await move(agent, 'WRITE', buffer, file);
      second.deregister();
      expect(agent.registeredRegions).toBe(0);
      await file.close();
    });

    it('refuses to register freed memory, and stale registrations after free', async () => {
      using agent = posixAgent();
      const buffer = allocate(4096);
      const file = directFile('after-free.bin', 4096);
      using _file = agent.register(file);
      const registration = agent.register(buffer);
      buffer.free();
      expect(registration.registered).toBe(false);
      expect(() => agent.register(buffer)).toThrow(DisposedError);
      expect(() => agent.createTransfer('WRITE', registration, file)).toThrow(
        expect.objectContaining({ code: 'ERR_DMEM_NIXL_DEREGISTERED' }),
      );

      // New memory may reuse the address; it gets its own registration, the old one stays stale.
      using fresh = filled(4096, 5);
      using _fresh = agent.register(fresh);
      await move(agent, 'WRITE', fresh, file);
      expect(readFileSync(file.path).equals(fresh.buffer)).toBe(true);
      await file.close();
    });

    it('rejects a transfer that fails instead of resolving it', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const file = directFile('write-only.bin', 4096, true, false);
      using _r = agent.register([buffer, file]);
      const error = await rejection(move(agent, 'READ', buffer, file));
      expect(error).toBeInstanceOf(NixlError);
      expect((error as NixlError).code).toMatch(/^NIXL_ERR_/);
      await file.close();
    });
  },
);

describe.skipIf(!status.usable || !hasUcx)(`NIXL UCX backend (needs NIXL with UCX${why})`, () => {
  it('transfers between two agents in one process after exchanging metadata', async () => {
    using initiator = NixlAgent.create(`dmem-init-${process.pid}`, { progressThread: true });
    using target = NixlAgent.create(`dmem-target-${process.pid}`, { progressThread: true });
    initiator.createBackend('UCX');
    target.createBackend('UCX');
    using source = filled(1 << 20, 9);
    using sink = allocate(1 << 20);
    using _source = initiator.register(source);
    using sinkRegistration = target.register(sink);

    expect(initiator.loadRemoteMetadata(target.localMetadata())).toBe(target.name);
    await move(initiator, 'WRITE', source, sinkRegistration.descriptors, {
      remoteAgent: target.name,
    });
    expect(sink.buffer.equals(source.buffer)).toBe(true);

    sink.bytes.fill(0);
    using back = allocate(1 << 20);
    using _back = initiator.register(back);
    await move(initiator, 'READ', back, sinkRegistration.descriptors, {
      remoteAgent: target.name,
    });
    expect(back.buffer.equals(sink.buffer)).toBe(true);

    // The target learns of a transfer through its notification, polled with a bound.
    await move(initiator, 'WRITE', source, sinkRegistration.descriptors, {
      remoteAgent: target.name,
      notification: 'kv-block-ready',
    });
    const deadline = Date.now() + timeoutMs;
    let received: Buffer[] = [];
    while (received.length === 0 && Date.now() < deadline) {
      received = target.notifications().get(initiator.name) ?? [];
      if (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(received.map(String)).toEqual(['kv-block-ready']);

    initiator.invalidateRemote(target.name);
    expect(() =>
      initiator.createTransfer('WRITE', source, sinkRegistration.descriptors, {
        remoteAgent: target.name,
      }),
    ).toThrow(NixlError);
  });

  it.skipIf(!isCudaAvailable())(
    'registers device memory as VRAM or fails at once (case B18)',
    () => {
      using agent = NixlAgent.create(`dmem-vram-${process.pid}`);
      agent.createBackend('UCX');
      using buffer = allocateDevice(1 << 20);
      let registered = false;
      try {
        using registration = agent.register(buffer);
        registered = registration.descriptors[0]!.memType === 'VRAM';
      } catch (error) {
        // UCX without CUDA support must refuse here, not later during transfer setup.
        expect(error).toBeInstanceOf(NixlError);
        expect(agent.registeredRegions).toBe(0);
        return;
      }
      expect(registered).toBe(true);
    },
  );
});
