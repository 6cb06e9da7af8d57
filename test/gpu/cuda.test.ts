/**
 * The CUDA behaviours of test/cuda/, against a real driver and device. Skipped, with the reason,
 * where there is none; test/gpu/run.sh runs this tier and the copy benchmark on a GPU machine.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { native } from '../../lib/binding.js';
import { pointerKind } from '../../lib/cuda/device-buffer.js';
import {
  allocate,
  allocateDevice,
  allocatePinned,
  copyDeviceToDevice,
  copyFromDevice,
  copyToDevice,
  CudaError,
  cudaDevices,
  cudaStatus,
  loadFileToDevice,
  pinHostBuffer,
  releaseCuda,
  unpinHostBuffer,
} from '../../lib/index.js';
import { distUrl, repoRoot, runModule } from '../support/child.js';
import { forkCheck, forkHelper } from '../support/cuda-stand-in/build.js';

// This tier is about the real driver: never the stand-in, whatever the shell exported.
delete process.env.DYNAMO_MEMORY_CUDA_STAND_IN;
const status = cudaStatus({ mode: 'auto' });
const skipReason = status.available ? '' : ` (skipped: no usable CUDA driver, ${status.reason})`;
// The default reporter folds skipped files into one line; say why where people read it.
if (!status.available) console.info(`test/gpu:${skipReason}`);
const indexUrl = distUrl('index.js');

function child(source: string, env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []) {
  return runModule(`import * as cuda from ${JSON.stringify(indexUrl)};\n${source}`, {
    env: { DYNAMO_MEMORY_CUDA_STAND_IN: '', ...env },
    nodeArgs,
  });
}

const scratch = path.join(repoRoot, 'build/test-tmp');
let dir: string | undefined;

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  releaseCuda();
});

describe.skipIf(!status.available)(`CUDA with a real driver${skipReason}`, () => {
  it('reports the real driver library, its version and the devices', () => {
    expect(status).toMatchObject({ reason: 'ok', standIn: false, library: 'libcuda.so.1' });
    expect(status.driverVersion).toMatch(/^\d+\.\d+$/);
    const devices = cudaDevices();
    expect(devices).toHaveLength(status.deviceCount);
    for (const device of devices) {
      expect(device.error).toBeUndefined();
      expect(device.uuid).toMatch(
        /^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
      expect(device.pciBusId).toMatch(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/);
      expect(device.computeCapability).toMatch(/^\d+\.\d+$/);
      expect(device.freeMemory).toBeGreaterThan(0);
      expect(device.freeMemory!).toBeLessThanOrEqual(device.totalMemory);
    }
  });

  it('allocates and frees device memory, retaining the primary context while it lives', () => {
    const buffer = allocateDevice(64 << 20);
    expect(native().cudaContextOwners(0)).toBe(1);
    expect(pointerKind(buffer.address)).toEqual({ kind: 'device', device: 0 });
    buffer.free();
    buffer.free();
    expect(native().cudaContextOwners(0)).toBe(0);
  });

  it('surfaces CUDA_ERROR_OUT_OF_MEMORY for more than the device has', () => {
    const total = cudaDevices({ freeMemory: false })[0]!.totalMemory;
    let error: unknown;
    try {
      allocateDevice(total * 2);
    } catch (failure) {
      error = failure;
    }
    expect(error).toBeInstanceOf(CudaError);
    expect(error).toMatchObject({ code: 'CUDA_ERROR_OUT_OF_MEMORY' });
  });

  it('round-trips 64 MiB through pinned, pageable and device-to-device copies', async () => {
    using source = allocate(64 << 20);
    using target = allocate(64 << 20);
    using a = allocateDevice(64 << 20);
    using b = allocateDevice(64 << 20);
    randomFillSync(source.bytes);
    expect(pinHostBuffer(source, { mode: 'require' })).toBe(true);
    expect(pointerKind(source.address).kind).toBe('host');
    await copyToDevice(a, source);
    await copyDeviceToDevice(b, a);
    await copyFromDevice(target, b);
    expect(Buffer.compare(target.buffer, source.buffer)).toBe(0);
    expect(unpinHostBuffer(source)).toBe(true);
  });

  it('allocates pinned memory, write-combined when asked, and detaches views on free', async () => {
    const pinned = allocatePinned(1 << 20, { writeCombined: 'prefer' });
    const view = pinned.bytes;
    pinned.bytes.fill(5);
    using device = allocateDevice(1 << 20);
    await copyToDevice(device, pinned);
    pinned.free();
    expect(view.length).toBe(0);
  });

  it('loads a file into device memory byte for byte', async () => {
    mkdirSync(scratch, { recursive: true });
    dir = mkdtempSync(path.join(scratch, 'gpu-load-'));
    const data = randomFillSync(Buffer.alloc((96 << 20) + 4321));
    writeFileSync(path.join(dir, 'weights.bin'), data);
    const result = await loadFileToDevice(path.join(dir, 'weights.bin'), { chunkSize: 8 << 20 });
    using back = allocate(data.length);
    await copyFromDevice(back, result.buffer);
    result.buffer.free();
    expect(result.pinned).toBe(true);
    expect(Buffer.compare(back.buffer, data)).toBe(0);
  });

  it.each([
    ['a natural exit', ''],
    ['process.exit(0)', 'process.exit(0);'],
    ['releaseCuda() then gc()', 'cuda.releaseCuda(); delete globalThis.keep; gc();'],
  ])('exits cleanly with CUDA memory in globals after %s (B12)', (_name, ending) => {
    const result = child(
      `
      globalThis.keep = [cuda.allocatePinned(64 << 20), cuda.allocateDevice(64 << 20)];
      const host = cuda.allocate(64 << 20);
      cuda.pinHostBuffer(host, { mode: 'require' });
      globalThis.keep.push(host);
      ${ending}
      `,
      {},
      ['--expose-gc'],
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('exits cleanly after another module reset the device (B12)', () => {
    const result = child(`
      import { createRequire } from 'node:module';
      const helper = createRequire(import.meta.url)(${JSON.stringify(forkHelper())});
      globalThis.keep = [cuda.allocateDevice(64 << 20), cuda.allocatePinned(1 << 20)];
      console.log(JSON.stringify({ reset: helper.resetDevice('libcuda.so.1', 0) }));
      globalThis.keep[0].free();
    `);
    expect(result.stderr).toBe('');
    expect(result.json).toEqual({ reset: 0 });
    expect(result.status).toBe(0);
  });

  it.each(['', '-1'])('says devices-hidden with CUDA_VISIBLE_DEVICES=%j (B14)', (value) => {
    const result = child('console.log(JSON.stringify(cuda.cudaStatus()));', {
      CUDA_VISIBLE_DEVICES: value,
    });
    expect(result.json).toMatchObject({ available: false, reason: 'devices-hidden' });
  });

  it('prefers libcuda.so.1 over a toolkit stub first on LD_LIBRARY_PATH (B14)', () => {
    const stubs = [
      '/usr/local/cuda/lib64/stubs',
      '/usr/local/cuda/targets/x86_64-linux/lib/stubs',
    ].find((candidate) => existsSync(path.join(candidate, 'libcuda.so')));
    const result = child('console.log(JSON.stringify(cuda.cudaStatus()));', {
      LD_LIBRARY_PATH: stubs ?? '',
    });
    const stubHasSoname = stubs !== undefined && existsSync(path.join(stubs, 'libcuda.so.1'));
    expect(result.json).toMatchObject({ reason: stubHasSoname ? 'stub-library' : 'ok' });
  });

  it('works in a child started with fork() and exec after the parent pinned memory (B15)', () => {
    const result = child(`
      import { fork } from 'node:child_process';
      const host = cuda.allocate(1 << 20);
      cuda.pinHostBuffer(host, { mode: 'require' });
      const sub = fork('/dev/null', [], { execArgv: ['--input-type=module', '-e', \`
        import * as cuda from \${JSON.stringify(${JSON.stringify(indexUrl)})};
        cuda.allocateDevice(4096).free();
        process.send(cuda.cudaStatus().reason);
      \`] });
      const reason = await new Promise((resolve) => sub.on('message', resolve));
      host.free();
      console.log(JSON.stringify({ reason }));
    `);
    expect(result.stderr).toBe('');
    expect(result.json).toEqual({ reason: 'ok' });
  });

  it('tells a child forked without exec that CUDA was initialised before the fork (B15)', () => {
    const output = execFileSync(forkCheck(), ['-'], { encoding: 'utf8' });
    const [, forked, exit] = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(forked).toMatchObject({
      reason: 'forked-after-init',
      code: 'ERR_DMEM_CUDA_UNAVAILABLE',
    });
    expect(exit).toEqual({ who: 'exit', status: 0 });
  });
});
