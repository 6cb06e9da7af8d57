// Agents, backends, registrations and transfers end to end through the addon, against the
// STAND-IN of NIXL's C API (fixtures/standin-capi.cpp; not NIXL). Bytes really move: host
// buffers to and from O_DIRECT files (DirectFile) with pread/pwrite, and between agents with
// memcpy. The stand-in logs
// every state change to a file, which is how call counts and release order are checked.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { native } from '../../lib/binding.js';
import { openFile } from '../../lib/direct-file.js';
import {
  BusyError,
  callNative,
  DisposedError,
  InvalidArgumentError,
  NixlError,
} from '../../lib/errors.js';
import { allocate, type HostBuffer, nativeHandleOf } from '../../lib/host-buffer.js';
import { NixlAgent } from '../../lib/nixl/agent.js';
import type { NixlRegistration } from '../../lib/nixl/registration.js';
import { nixlStatus } from '../../lib/nixl/loader.js';
import { repoRoot } from '../support/child.js';

import { buildPrefix, compiler, removePrefix } from './standin.js';

let prefix: string | undefined;
let dir: string;
let log: string;
let agents = 0;

beforeAll(() => {
  if (!compiler) return;
  prefix = buildPrefix();
  process.env.NIXL_PREFIX = prefix;
  mkdirSync(path.join(repoRoot, 'test/.tmp'), { recursive: true });
  dir = mkdtempSync(path.join(repoRoot, 'test/.tmp/nixl-'));
  log = path.join(dir, 'standin.log');
  process.env.NIXL_STANDIN_LOG = log;
});

afterAll(() => {
  removePrefix(prefix);
  if (dir) rmSync(dir, { recursive: true, force: true });
  delete process.env.NIXL_STANDIN_LOG;
});

beforeEach(() => {
  if (log) writeFileSync(log, '');
});

function logLines(): string[] {
  return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
}

function opsOf(lines: string[]): string[] {
  return lines.map((line) => line.split(' ')[0]!);
}

function posixAgent(): NixlAgent {
  const agent = NixlAgent.create(`agent-${++agents}`);
  agent.createBackend('POSIX', { engine: 'posix_aio' });
  return agent;
}

function filled(size: number, seed: number): HostBuffer {
  const buffer = allocate(size);
  for (let i = 0; i < size; i++) buffer.bytes[i] = (i * 7 + seed) & 0xff;
  return buffer;
}

// A real O_DIRECT file (DirectFile) of `size` zero bytes.
function dataFile(name: string, size: number, access: 'read-write' | 'write-only' = 'read-write') {
  const file = path.join(dir, name);
  writeFileSync(file, Buffer.alloc(size));
  return openFile(file, { read: access === 'read-write', write: true });
}

// Runs `body` with a stand-in switch set. NB: set only while no transfer is polled, since
// setenv and the poll thread's getenv must not race.
async function withStandin<T>(name: string, body: () => Promise<T>): Promise<T> {
  process.env[name] = '1';
  try {
    return await body();
  } finally {
    delete process.env[name];
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function thrownBy(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe.skipIf(!compiler)('NIXL against the C API stand-in (needs a C++ compiler)', () => {
  describe('NixlAgent.create()', () => {
    it('creates an agent once NIXL is usable, with NIXL’s defaults', async () => {
      expect(nixlStatus().state).toBe('usable');
      const agent = NixlAgent.create('defaults');
      expect(agent.name).toBe('defaults');
      expect(agent.closed).toBe(false);
      expect(logLines()).toContain('create_agent defaults prog=0 sync=0');
      agent.close();
      expect(agent.closed).toBe(true);
    });

    it('passes the progress thread and thread-sync settings through', async () => {
      using agent = NixlAgent.create('configured', { progressThread: true, threadSync: 'rw' });
      expect(logLines()).toContain('create_agent configured prog=1 sync=2');
      expect(agent.plugins()).toEqual(['POSIX', 'UCX']);
    });

    it('rejects an empty name before touching NIXL', async () => {
      const error = thrownBy(() => NixlAgent.create(''));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_INVALID_ARGUMENT' });
    });

    it('reports NIXL’s refusal of a name in use as NixlError NIXL_ERR_BACKEND', async () => {
      using agent = NixlAgent.create('taken');
      const error = thrownBy(() => NixlAgent.create(agent.name));
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({
        code: 'NIXL_ERR_BACKEND',
        operation: 'nixl_capi_create_configured_agent',
      });
    });
  });

  describe('NixlAgent#createBackend()', () => {
    it('creates a backend with checked parameters and reports its memory types', async () => {
      using agent = NixlAgent.create('backends');
      const posix = agent.createBackend('POSIX', { engine: 'posix_aio', ios_pool_size: 128 });
      expect(posix).toEqual({
        type: 'POSIX',
        memTypes: ['DRAM', 'FILE'],
        params: { ios_pool_size: '128', use_posix_aio: 'true' },
      });
      expect(agent.backends.map((b) => b.type)).toEqual(['POSIX']);
      expect(logLines()).toContain(
        'create_backend backends POSIX ios_pool_size=128 use_posix_aio=true',
      );
    });

    it('refuses a second backend of one type with ERR_DMEM_NIXL_BACKEND_EXISTS', async () => {
      using agent = posixAgent();
      const error = thrownBy(() => agent.createBackend('POSIX'));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_NIXL_BACKEND_EXISTS' });
    });

    it('refuses unknown parameters before NIXL can silently ignore them', async () => {
      using agent = NixlAgent.create('params');
      const error = thrownBy(() => agent.createBackend('UCX', { ucx_devices: 'mlx5_0' }));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_UNKNOWN_OPTION' });
      expect(logLines().some((line) => line.startsWith('create_backend'))).toBe(false);
    });

    it('reports a plugin NIXL cannot load as NixlError NIXL_ERR_BACKEND', async () => {
      using agent = NixlAgent.create('no-plugin');
      const error = thrownBy(() => agent.createBackend('OBJ', { bucket: 'b' }));
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({
        code: 'NIXL_ERR_BACKEND',
        operation: 'nixl_capi_create_backend',
      });
      expect(agent.backends).toEqual([]);
    });

    it('lists a plugin’s declared parameters', async () => {
      using agent = NixlAgent.create('plugin-params');
      expect(agent.pluginParams('UCX')).toEqual({
        memTypes: ['DRAM', 'VRAM'],
        params: { device_list: '', num_workers: '1' },
      });
      expect(thrownBy(() => agent.pluginParams('NOPE'))).toMatchObject({
        code: 'NIXL_ERR_BACKEND',
      });
    });
  });

  describe('NixlAgent#register()', () => {
    it('registers host memory as DRAM and a file as FILE on the capable backend', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const file = dataFile('reg.bin', 8192);
      using registration = agent.register([buffer, file]);
      expect(registration.backends).toEqual(['POSIX']);
      expect(registration.descriptors).toEqual([
        { memType: 'DRAM', addr: buffer.address, length: 4096n, devId: 0n },
        { memType: 'FILE', addr: 0n, length: 8192n, devId: BigInt(file.fd) },
      ]);
      const registered = logLines().filter((line) => line.startsWith('register_mem'));
      expect(registered).toEqual([
        `register_mem ${agent.name} POSIX mem=0 len=4096 dev=0`,
        `register_mem ${agent.name} POSIX mem=4 len=8192 dev=${file.fd}`,
      ]);
      registration.deregister();
      await file.close();
    });

    it('shares one registration for the same region and deregisters with the last handle', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const first = agent.register(buffer);
      const second = agent.register(buffer);
      expect(opsOf(logLines()).filter((op) => op === 'register_mem')).toHaveLength(1);
      first.deregister();
      expect(opsOf(logLines())).not.toContain('deregister_mem');
      expect(second.registered).toBe(true);
      second.deregister();
      expect(opsOf(logLines()).filter((op) => op === 'deregister_mem')).toHaveLength(1);
      second.deregister();
      first.deregister();
      expect(opsOf(logLines()).filter((op) => op === 'deregister_mem')).toHaveLength(1);
      expect(agent.registeredRegions).toBe(0);
    });

    it('uses every capable backend by default and deregisters on exactly those', async () => {
      using agent = posixAgent();
      agent.createBackend('UCX');
      using buffer = allocate(4096);
      const file = dataFile('capable.bin', 4096);
      writeFileSync(log, '');
      const registration = agent.register([buffer, file]);
      expect(registration.backends).toEqual(['POSIX', 'UCX']);
      expect(logLines().map((line) => line.split(' ').slice(2, 4).join(' '))).toEqual([
        'POSIX mem=0',
        'UCX mem=0',
        'POSIX mem=4',
      ]);
      const named = agent.register(buffer, { backends: ['UCX'] });
      registration.deregister();
      expect(logLines().filter((line) => line.startsWith('deregister_mem'))).toEqual([
        `deregister_mem ${agent.name} POSIX mem=0 len=4096 dev=0`,
        `deregister_mem ${agent.name} POSIX mem=4 len=4096 dev=${file.fd}`,
      ]);
      named.deregister();
      expect(logLines().at(-1)).toBe(`deregister_mem ${agent.name} UCX mem=0 len=4096 dev=0`);
      await file.close();
    });

    it('rejects unknown options with ERR_DMEM_UNKNOWN_OPTION', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const error = thrownBy(() => agent.register(buffer, { backend: 'POSIX' } as never));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_UNKNOWN_OPTION' });
    });

    it('refuses memory no backend can register, naming the type and the backends', async () => {
      using agent = NixlAgent.create('no-file-backend');
      agent.createBackend('UCX');
      const file = dataFile('ucx.bin', 4096);
      const error = thrownBy(() => agent.register(file));
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_NIXL_NO_BACKEND' });
      expect((error as Error).message).toMatch(/Cannot register file memory as FILE: .*UCX/);
      expect(thrownBy(() => agent.register(file, { backends: ['POSIX'] }))).toMatchObject({
        code: 'ERR_DMEM_NIXL_NO_BACKEND',
      });
      await file.close();
    });

    it('refuses freed memory with DisposedError ERR_DMEM_BUFFER_FREED', async () => {
      using agent = posixAgent();
      const buffer = allocate(4096);
      buffer.free();
      const error = thrownBy(() => agent.register(buffer));
      expect(error).toBeInstanceOf(DisposedError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_BUFFER_FREED' });
      expect(opsOf(logLines())).not.toContain('register_mem');
    });

    it('deregisters first when registered memory is freed', async () => {
      using agent = posixAgent();
      const buffer = allocate(4096);
      const registration = agent.register(buffer);
      writeFileSync(log, '');
      buffer.free();
      expect(buffer.freed).toBe(true);
      expect(registration.registered).toBe(false);
      expect(opsOf(logLines())).toEqual(['deregister_mem']);
      registration.deregister();
      expect(opsOf(logLines())).toEqual(['deregister_mem']);
    });

    it('deregisters first when a registered file is closed', async () => {
      using agent = posixAgent();
      const file = dataFile('closing.bin', 4096);
      const registration = agent.register(file);
      await file.close();
      expect(registration.registered).toBe(false);
      expect(opsOf(logLines()).slice(-1)).toEqual(['deregister_mem']);
    });
  });

  describe('NixlAgent#transfer()', () => {
    it('writes host memory to a file and reads it back', async () => {
      using agent = posixAgent();
      using source = filled(8192, 1);
      using target = allocate(8192);
      const file = dataFile('roundtrip.bin', 8192);
      using registration = agent.register([source, target, file]);

      await agent.transfer('WRITE', source, file);
      expect(readFileSync(file.path).equals(source.buffer)).toBe(true);
      await agent.transfer('READ', target, file);
      expect(target.buffer.equals(source.buffer)).toBe(true);

      registration.deregister();
      await file.close();
      expect(agent.registeredRegions).toBe(0);
    });

    it('moves lists of many blocks at their file offsets', async () => {
      using agent = posixAgent();
      const blocks = 32;
      const size = 4096;
      const sources = Array.from({ length: blocks }, (_, i) => filled(size, i));
      const targets = Array.from({ length: blocks }, () => allocate(size));
      const file = dataFile('blocks.bin', blocks * size);
      const registration = agent.register([...sources, ...targets, file]);

      const slots = sources.map((_, i) => ({ memory: file, offset: i * size, length: size }));
      await agent.transfer('WRITE', sources, slots);
      await agent.transfer('READ', targets, [...slots].reverse());
      targets.forEach((target, i) => {
        expect(target.buffer.equals(sources[blocks - 1 - i]!.buffer)).toBe(true);
      });

      registration.deregister();
      [...sources, ...targets].forEach((buffer) => buffer.free());
      await file.close();
    });

    it('refuses memory that is not registered with ERR_DMEM_NIXL_NOT_REGISTERED', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const file = dataFile('unregistered.bin', 4096);
      using _file = agent.register(file);
      const error = thrownBy(() => agent.createTransfer('WRITE', buffer, file));
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_NIXL_NOT_REGISTERED' });
      expect((error as Error).message).toMatch(/local\[0\] \(DRAM, 4096 bytes at \d+\)/);
      await file.close();
    });

    it('refuses sides whose lengths differ, naming the index', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const file = dataFile('lengths.bin', 8192);
      using _r = agent.register([buffer, file]);
      const error = thrownBy(() => agent.createTransfer('WRITE', [buffer], [file]));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(/remote\[0\]\.length to be 4096 like local\[0\]/);
      await file.close();
    });

    it('rejects with NixlError when the transfer fails, and never resolves', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const file = dataFile('write-only.bin', 4096, 'write-only');
      using _r = agent.register([buffer, file]);
      const error = await rejection(agent.transfer('READ', buffer, file));
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({
        code: 'NIXL_ERR_BACKEND',
        operation: 'nixl_capi_get_xfer_status',
      });
      expect((error as Error).stack).toMatch(/agent\.test\.ts/);
      await file.close();
    });

    it('works with a registration as the segment after every other reference is gone', async () => {
      using agent = posixAgent();
      const file = dataFile('held.bin', 4096);
      const fileRegistration = agent.register(file);
      let registration: NixlRegistration | undefined = agent.register(filled(4096, 9));
      globalThis.gc?.();
      await agent.transfer('WRITE', registration, fileRegistration);
      expect(readFileSync(file.path)[1]).toBe((7 + 9) & 0xff);
      registration.deregister();
      const error = thrownBy(() => agent.createTransfer('WRITE', registration!, fileRegistration));
      expect(error).toBeInstanceOf(DisposedError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_NIXL_DEREGISTERED' });
      registration = undefined;
      await file.close();
    });
  });

  describe('NixlTransfer', () => {
    it('can be posted again, and is released once', async () => {
      using agent = posixAgent();
      using buffer = filled(4096, 3);
      const file = dataFile('repost.bin', 4096);
      using _r = agent.register([buffer, file]);
      const transfer = agent.createTransfer('WRITE', buffer, file);
      expect(transfer.state).toBe('ready');
      await transfer.post();
      expect(transfer.state).toBe('done');
      await transfer.post();
      transfer.release();
      transfer.release();
      expect(transfer.state).toBe('released');
      expect(opsOf(logLines()).filter((op) => op === 'post_xfer_req')).toHaveLength(2);
      expect(opsOf(logLines()).filter((op) => op === 'release_xfer_req')).toHaveLength(1);
      const error = await rejection(transfer.post());
      expect(error).toBeInstanceOf(DisposedError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_NIXL_XFER_RELEASED' });
      await file.close();
    });

    it('refuses a second post while in flight with BusyError ERR_DMEM_NIXL_IN_FLIGHT', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const file = dataFile('busy.bin', 4096);
      using _r = agent.register([buffer, file]);
      using transfer = agent.createTransfer('WRITE', buffer, file);
      await withStandin('NIXL_STANDIN_HOLD', async () => {
        const first = transfer.post();
        const error = await rejection(transfer.post());
        expect(error).toBeInstanceOf(BusyError);
        expect(error).toMatchObject({ code: 'ERR_DMEM_NIXL_IN_FLIGHT' });
        expect(transfer.state).toBe('in-flight');
        transfer.release();
        expect(await rejection(first)).toMatchObject({ code: 'NIXL_ERR_CANCELED' });
      });
      await file.close();
    });

    it('keeps registered memory from being freed while in flight', async () => {
      using agent = posixAgent();
      const buffer = allocate(4096);
      const file = dataFile('inflight.bin', 4096);
      using _r = agent.register([buffer, file]);
      using transfer = agent.createTransfer('WRITE', buffer, file);
      const posted = transfer.post();
      const error = thrownBy(() => buffer.free());
      expect(error).toBeInstanceOf(BusyError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_NIXL_IN_FLIGHT' });
      expect(buffer.freed).toBe(false);
      await posted;
      buffer.free();
      expect(transfer.state).toBe('released');
      const stale = await rejection(transfer.post());
      expect(stale).toMatchObject({ code: 'ERR_DMEM_NIXL_XFER_RELEASED' });
      expect((stale as Error).message).toMatch(/its memory was freed or closed/);
      await file.close();
    });

    it('resolves a transfer that NIXL completed inside the post', async () => {
      using agent = posixAgent();
      using buffer = filled(4096, 4);
      const file = dataFile('inline.bin', 4096);
      using _r = agent.register([buffer, file]);
      await withStandin('NIXL_STANDIN_INLINE', async () => {
        using transfer = agent.createTransfer('WRITE', buffer, file);
        await transfer.post();
        expect(transfer.state).toBe('done');
      });
      expect(readFileSync(file.path).equals(buffer.buffer)).toBe(true);
      await file.close();
    });

    it('rejects with the NIXL status when the post itself fails', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const file = dataFile('post-fails.bin', 4096);
      using _r = agent.register([buffer, file]);
      using transfer = agent.createTransfer('WRITE', buffer, file);
      const error = await withStandin('NIXL_STANDIN_POST_FAIL', () => rejection(transfer.post()));
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({
        code: 'NIXL_ERR_BACKEND',
        operation: 'nixl_capi_post_xfer_req',
      });
      expect(transfer.state).toBe('failed');
      await transfer.post();
      expect(transfer.state).toBe('done');
      await file.close();
    });

    it('rejects with NIXL_ERR_CANCELED when aborted in flight', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const file = dataFile('abort.bin', 4096);
      using _r = agent.register([buffer, file]);
      const transfer = agent.createTransfer('WRITE', buffer, file);
      const controller = new AbortController();
      const error = await withStandin('NIXL_STANDIN_HOLD', async () => {
        const posted = transfer.post({ signal: controller.signal });
        controller.abort();
        return rejection(posted);
      });
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({ code: 'NIXL_ERR_CANCELED' });
      expect(transfer.state).toBe('released');
      await file.close();
    });
  });

  describe('NixlAgent#prepare() and #makeTransfer()', () => {
    it('prepares both sides once and makes many requests by index', async () => {
      using agent = posixAgent();
      const buffers = [filled(4096, 11), filled(4096, 12)];
      const file = dataFile('prepared.bin', 8192);
      const registration = agent.register([...buffers, file]);
      using local = agent.prepare(buffers);
      using remote = agent.prepare(
        [
          { memory: file, offset: 0, length: 4096 },
          { memory: file, offset: 4096, length: 4096 },
        ],
        { remoteAgent: agent.name },
      );
      await agent.makeTransfer('WRITE', local, [0, 1], remote, [1, 0]).post();
      const written = readFileSync(file.path);
      expect(written.subarray(0, 4096).equals(buffers[1]!.buffer)).toBe(true);
      expect(written.subarray(4096).equals(buffers[0]!.buffer)).toBe(true);

      const error = thrownBy(() => agent.makeTransfer('WRITE', local, [2], remote, [0]));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(/localIndices\[0\] to be an integer from 0 to 1/);
      local.release();
      expect(thrownBy(() => agent.makeTransfer('WRITE', local, [0], remote, [0]))).toMatchObject({
        code: 'ERR_DMEM_NIXL_LIST_RELEASED',
      });
      registration.deregister();
      buffers.forEach((buffer) => buffer.free());
      await file.close();
    });
  });

  describe('two agents', () => {
    it('transfer host memory after exchanging metadata, and not after invalidation', async () => {
      using initiator = NixlAgent.create('initiator', { progressThread: true });
      using target = NixlAgent.create('target', { progressThread: true });
      initiator.createBackend('UCX');
      target.createBackend('UCX');
      using source = filled(8192, 5);
      using sink = allocate(8192);
      using _s = initiator.register(source);
      using sinkRegistration = target.register(sink);

      expect(initiator.loadRemoteMetadata(target.localMetadata())).toBe('target');
      await initiator.transfer('WRITE', source, sinkRegistration.descriptors, {
        remoteAgent: 'target',
      });
      expect(sink.buffer.equals(source.buffer)).toBe(true);

      initiator.invalidateRemote('target');
      const error = thrownBy(() =>
        initiator.createTransfer('WRITE', source, sinkRegistration.descriptors, {
          remoteAgent: 'target',
        }),
      );
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({ code: 'NIXL_ERR_BACKEND' });
    });

    it('completes many concurrent transfers, and settles every one in flight at close', async () => {
      const initiator = NixlAgent.create('many-a');
      const target = NixlAgent.create('many-b');
      initiator.createBackend('UCX');
      target.createBackend('UCX');
      const sources = Array.from({ length: 64 }, (_, i) => filled(4096, i));
      const sinks = Array.from({ length: 64 }, () => allocate(4096));
      initiator.register(sources);
      const sinkRegistration = target.register(sinks);
      initiator.loadRemoteMetadata(target.localMetadata());
      const to = (i: number) => sinkRegistration.descriptors[i]!;

      for (let round = 0; round < 5; round++) {
        await Promise.all(
          sources.map((source, i) =>
            initiator.transfer('WRITE', source, to(i), { remoteAgent: 'many-b' }),
          ),
        );
      }
      sinks.forEach((sink, i) => expect(sink.buffer.equals(sources[i]!.buffer)).toBe(true));

      const pending = sources.map((source, i) =>
        initiator
          .createTransfer('WRITE', source, to(i), { remoteAgent: 'many-b' })
          .post()
          .then(
            () => 'resolved',
            (error: NixlError) => error.code,
          ),
      );
      initiator.close();
      target.close();
      // The poll thread may finish some before close(); the rest are cancelled, none hangs.
      const outcomes = await Promise.all(pending);
      expect(outcomes.every((outcome) => ['resolved', 'NIXL_ERR_CANCELED'].includes(outcome))).toBe(
        true,
      );
      [...sources, ...sinks].forEach((buffer) => buffer.free());
    });

    it('delivers a transfer’s notification and standalone ones to the target', async () => {
      using initiator = NixlAgent.create('notify-a');
      using target = NixlAgent.create('notify-b');
      initiator.createBackend('UCX');
      target.createBackend('UCX');
      using source = filled(4096, 2);
      using sink = allocate(4096);
      using _s = initiator.register(source);
      using sinkRegistration = target.register(sink);
      initiator.loadRemoteMetadata(target.localMetadata());

      expect(target.notifications()).toEqual(new Map());
      await initiator.transfer('WRITE', source, sinkRegistration.descriptors, {
        remoteAgent: 'notify-b',
        notification: 'block 7 ready',
      });
      initiator.sendNotification('notify-b', new Uint8Array([1, 2, 3]));
      const received = target.notifications();
      expect([...received.keys()]).toEqual(['notify-a']);
      expect(received.get('notify-a')!.map((message) => [...message])).toEqual([
        [...Buffer.from('block 7 ready')],
        [1, 2, 3],
      ]);
      expect(target.notifications()).toEqual(new Map());
    });

    it('reports that a POSIX-only agent has no notifications with NIXL_ERR_BACKEND', async () => {
      using agent = posixAgent();
      for (const call of [
        () => agent.notifications(),
        () => agent.sendNotification(agent.name, 'x'),
      ]) {
        const error = thrownBy(call);
        expect(error).toBeInstanceOf(NixlError);
        expect(error).toMatchObject({ code: 'NIXL_ERR_BACKEND' });
      }
      using buffer = allocate(4096);
      const file = dataFile('notify-posix.bin', 4096);
      using _r = agent.register([buffer, file]);
      expect(
        thrownBy(() => agent.createTransfer('WRITE', buffer, file, { notification: 'done' })),
      ).toMatchObject({ code: 'NIXL_ERR_BACKEND', operation: 'nixl_capi_create_xfer_req' });
      await file.close();
    });

    it('refuses to load an agent’s own metadata', async () => {
      using agent = NixlAgent.create('self-md');
      agent.createBackend('UCX');
      const error = thrownBy(() => agent.loadRemoteMetadata(agent.localMetadata()));
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({ code: 'NIXL_ERR_INVALID_PARAM' });
    });

    it('reports that a POSIX-only agent has no metadata to export', async () => {
      using agent = posixAgent();
      expect(thrownBy(() => agent.localMetadata())).toMatchObject({
        code: 'NIXL_ERR_INVALID_PARAM',
        operation: 'nixl_capi_get_local_md',
      });
    });
  });

  describe('the native surface', () => {
    it('refuses a handle of the wrong kind instead of reinterpreting it', async () => {
      using agent = posixAgent();
      using buffer = allocate(4096);
      const error = thrownBy(() => callNative(() => native().nixlPost(nativeHandleOf(buffer))));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(/expected a NIXL transfer request handle/);
      expect(agent.closed).toBe(false);
    });
  });

  describe('NixlAgent#close()', () => {
    it('releases requests, then prepared lists, then registrations, then the agent', async () => {
      const agent = posixAgent();
      const buffer = allocate(4096);
      const file = dataFile('order.bin', 4096);
      const registration = agent.register([buffer, file]);
      const transfer = agent.createTransfer('WRITE', buffer, file);
      const prepared = agent.prepare(buffer);
      writeFileSync(log, '');

      agent.close();
      expect(opsOf(logLines())).toEqual([
        'release_xfer_req',
        'release_xfer_dlist_handle',
        'deregister_mem',
        'deregister_mem',
        'destroy_agent',
      ]);
      expect(logLines().at(-1)).toMatch(/registrations_left=0$/);
      expect(registration.registered).toBe(false);
      expect(transfer.state).toBe('released');
      expect(prepared.released).toBe(true);
      agent.close();

      buffer.free();
      await file.close();
      expect(opsOf(logLines())).toHaveLength(5);
      const error = thrownBy(() => agent.register(allocate(4096)));
      expect(error).toBeInstanceOf(DisposedError);
      expect(error).toMatchObject({ code: 'ERR_DMEM_NIXL_AGENT_CLOSED' });
    });

    it('cancels a transfer in flight, whose promise rejects with NIXL_ERR_CANCELED', async () => {
      const agent = posixAgent();
      using buffer = allocate(4096);
      const file = dataFile('close-inflight.bin', 4096);
      agent.register([buffer, file]);
      const error = await withStandin('NIXL_STANDIN_HOLD', async () => {
        const posted = agent.createTransfer('WRITE', buffer, file).post();
        agent.close();
        return rejection(posted);
      });
      expect(error).toBeInstanceOf(NixlError);
      expect(error).toMatchObject({ code: 'NIXL_ERR_CANCELED' });
      await file.close();
    });
  });
});
