import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { distUrl, hasCommand, isRoot, repoRoot } from '../support/child.js';

import { runWithStandIn } from './helpers.js';

const printStatus = 'console.log(JSON.stringify(cuda.cudaStatus()));';
const hasSystemDriver = /libcuda\.so\.1 /.test(
  execFileSync('sh', ['-c', 'ldconfig -p || true'], { encoding: 'utf8' }),
);

describe('cudaStatus()', () => {
  it('reports a usable stand-in driver with its version and device count', () => {
    const child = runWithStandIn(printStatus);
    expect(child.stderr).toBe('');
    expect(child.json).toMatchObject({
      available: true,
      mode: 'auto',
      reason: 'ok',
      standIn: true,
      driverVersion: '13.0',
      deviceCount: 2,
      cudaError: null,
    });
  });

  it('says library-not-found with the loader error when the library cannot be opened', () => {
    const child = runWithStandIn(printStatus, {
      env: { DYNAMO_MEMORY_CUDA_STAND_IN: '/nonexistent/libcuda-stand-in.so' },
    });
    expect(child.json).toMatchObject({ available: false, reason: 'library-not-found' });
    expect((child.json as { loadError: string }).loadError).toContain(
      '/nonexistent/libcuda-stand-in.so',
    );
    expect(child.report).toBeNull();
  });

  it.skipIf(hasSystemDriver)(
    'says library-not-found for the real driver here, naming libcuda.so.1, and lists no devices',
    () => {
      const child = runWithStandIn(
        'console.log(JSON.stringify([cuda.cudaStatus(), cuda.cudaDevices(), cuda.isCudaAvailable()]));',
        { env: { DYNAMO_MEMORY_CUDA_STAND_IN: '' } },
      );
      const [status, devices, available] = child.json as [
        { reason: string; library: string; loadError: string; standIn: boolean },
        unknown[],
        boolean,
      ];
      expect(status).toMatchObject({
        reason: 'library-not-found',
        library: 'libcuda.so.1',
        standIn: false,
      });
      expect(status.loadError).toContain('libcuda.so.1');
      expect(devices).toEqual([]);
      expect(available).toBe(false);
    },
  );

  it('refuses to load a library through the stand-in variable unless it is the stand-in', () => {
    const libm = execFileSync('sh', ['-c', 'ldconfig -p | grep -m1 "libm.so.6 " | sed "s/.*=> //"'])
      .toString()
      .trim();
    const child = runWithStandIn(printStatus, { env: { DYNAMO_MEMORY_CUDA_STAND_IN: libm } });
    expect(child.json).toMatchObject({ available: false, reason: 'library-not-found' });
    expect((child.json as { loadError: string }).loadError).toContain('not the test stand-in');
  });

  it('says stub-library, not "no device", when cuInit returns CUDA_ERROR_STUB_LIBRARY', () => {
    const child = runWithStandIn(printStatus, { env: { DMEM_CUDA_STAND_IN_INIT_RESULT: '34' } });
    expect(child.json).toMatchObject({
      available: false,
      reason: 'stub-library',
      cudaError: { code: 'CUDA_ERROR_STUB_LIBRARY', description: 'CUDA driver is a stub library' },
    });
  });

  it('says no-device when the driver finds no device and nothing hides them', () => {
    const child = runWithStandIn(printStatus, { env: { DMEM_CUDA_STAND_IN_DEVICES: '0' } });
    expect(child.json).toMatchObject({ reason: 'no-device', deviceCount: 0 });
  });

  it.each(['', '-1'])(
    'says devices-hidden when CUDA_VISIBLE_DEVICES=%j hides every device',
    (value) => {
      const child = runWithStandIn(printStatus, {
        env: { DMEM_CUDA_STAND_IN_INIT_RESULT: '100', CUDA_VISIBLE_DEVICES: value },
      });
      expect(child.json).toMatchObject({ reason: 'devices-hidden', visibleDevices: value });
      expect((child.json as { message: string }).message).toContain('CUDA_VISIBLE_DEVICES');
    },
  );

  it('says init-failed with the driver error name for other cuInit failures', () => {
    const child = runWithStandIn(printStatus, { env: { DMEM_CUDA_STAND_IN_INIT_RESULT: '999' } });
    expect(child.json).toMatchObject({
      reason: 'init-failed',
      cudaError: { code: 'CUDA_ERROR_UNKNOWN' },
    });
  });

  it('names an unknown driver result UNKNOWN_CUDA_ERROR_<n>', () => {
    const child = runWithStandIn(printStatus, { env: { DMEM_CUDA_STAND_IN_INIT_RESULT: '4242' } });
    expect(child.json).toMatchObject({ cudaError: { code: 'UNKNOWN_CUDA_ERROR_4242' } });
  });

  it('never loads the driver when the mode is off', () => {
    const child = runWithStandIn(
      `console.log(JSON.stringify([cuda.cudaStatus(), cuda.cudaStatus({ mode: 'auto' }).reason]));`,
      { env: { DYNAMO_MEMORY_CUDA: 'OFF' } },
    );
    const [status, overridden] = child.json as [{ reason: string; available: boolean }, string];
    expect(status).toMatchObject({ reason: 'disabled', available: false });
    expect(overridden).toBe('ok');
  });

  it('never throws: a bad DYNAMO_MEMORY_CUDA gives invalid-setting', () => {
    const child = runWithStandIn(printStatus, { env: { DYNAMO_MEMORY_CUDA: 'maybe' } });
    expect(child.json).toMatchObject({ available: false, reason: 'invalid-setting' });
    expect((child.json as { message: string }).message).toContain('DYNAMO_MEMORY_CUDA');
    expect(child.report).toBeNull();
  });

  it('does not touch the driver at import or for host memory (lazy initialisation)', () => {
    const child = runWithStandIn(`
      import { readFileSync } from 'node:fs';
      const buffer = cuda.allocate(1 << 20);
      buffer.free();
      const maps = readFileSync('/proc/self/maps', 'utf8');
      console.log(JSON.stringify({ loaded: maps.includes('libcuda') }));
    `);
    expect(child.json).toEqual({ loaded: false });
    expect(child.report).toBeNull();
  });

  it.skipIf(!isRoot || !hasCommand('setpriv'))(
    'says permission-denied naming /dev/nvidiactl for a user outside its group (needs root to switch user)',
    () => {
      const devDir = mkdtempSync(path.join(os.tmpdir(), 'dmem-fake-dev-'));
      try {
        chmodSync(devDir, 0o755);
        for (const name of ['nvidiactl', 'nvidia0', 'nvidia-uvm']) {
          writeFileSync(path.join(devDir, name), '');
          chmodSync(path.join(devDir, name), 0o660);
        }
        const statusUrl = distUrl('cuda/status.js');
        const child = runWithStandIn(
          `
          import { probeSettings } from ${JSON.stringify(statusUrl)};
          probeSettings.devDir = ${JSON.stringify(devDir)};
          console.log(JSON.stringify(cuda.cudaStatus()));
          `,
          {
            env: { DMEM_CUDA_STAND_IN_INIT_RESULT: '100', CUDA_VISIBLE_DEVICES: '' },
            prefix: ['setpriv', '--reuid=1000', '--regid=1000', '--clear-groups'],
          },
        );
        const status = child.json as { reason: string; message: string; deviceNodes: unknown[] };
        expect(status.reason).toBe('permission-denied');
        expect(status.message).toContain(`${devDir}/nvidia-uvm`);
        expect(status.message).toContain('--group-add 0');
        expect(status.deviceNodes).toContainEqual({
          path: path.join(devDir, 'nvidiactl'),
          mode: 0o660,
          uid: 0,
          gid: 0,
          accessible: false,
        });
      } finally {
        rmSync(devDir, { recursive: true, force: true });
      }
    },
  );
});

describe('the native addon', () => {
  it('has no link-time dependency on libcuda', () => {
    const ldd = execFileSync('ldd', [path.join(repoRoot, 'build/Release/dynamo_memory.node')]);
    expect(ldd.toString()).not.toContain('libcuda');
  });
});

describe('allocateDevice() without CUDA', () => {
  it('throws CudaUnavailableError with the reason', () => {
    const child = runWithStandIn(
      `
      try { cuda.allocateDevice(4096); } catch (error) {
        console.log(JSON.stringify({ name: error.name, code: error.code, reason: error.reason,
          message: error.message }));
      }
      `,
      { env: { DMEM_CUDA_STAND_IN_INIT_RESULT: '34' } },
    );
    expect(child.json).toMatchObject({
      name: 'CudaUnavailableError',
      code: 'ERR_DMEM_CUDA_UNAVAILABLE',
      reason: 'stub-library',
    });
  });

  it('throws InvalidArgumentError ERR_DMEM_INVALID_ENV for a bad DYNAMO_MEMORY_CUDA', () => {
    const child = runWithStandIn(
      `try { cuda.allocateDevice(4096); } catch (error) {
        console.log(JSON.stringify({ name: error.name, code: error.code })); }`,
      { env: { DYNAMO_MEMORY_CUDA: 'maybe' } },
    );
    expect(child.json).toEqual({ name: 'InvalidArgumentError', code: 'ERR_DMEM_INVALID_ENV' });
  });
});
