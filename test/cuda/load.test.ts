import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  allocate,
  allocateDevice,
  copyFromDevice,
  InvalidArgumentError,
  loadFileToDevice,
  type DeviceBuffer,
} from '../../lib/index.js';

import { runWithStandIn, useStandIn } from './helpers.js';

// A disk-backed folder inside the repository (build/ is ignored), so that O_DIRECT applies; /tmp
// may be tmpfs.
let dir: string;

beforeAll(async () => {
  useStandIn();
  const { mkdirSync } = await import('node:fs');
  const base = path.resolve(import.meta.dirname, '../../build/test-tmp');
  mkdirSync(base, { recursive: true });
  dir = mkdtempSync(path.join(base, 'cuda-load-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function makeFile(name: string, size: number): Buffer {
  const data = randomFillSync(Buffer.alloc(size));
  writeFileSync(path.join(dir, name), data);
  return data;
}

async function readBack(buffer: DeviceBuffer, offset: number, length: number): Promise<Buffer> {
  const host = allocate(Math.max(1, length));
  try {
    await copyFromDevice(host, buffer, { sourceOffset: offset, length });
    return Buffer.from(host.buffer.subarray(0, length));
  } finally {
    host.free();
  }
}

describe('loadFileToDevice()', () => {
  it.each([
    ['one chunk', 100_000, 1 << 20],
    ['many whole chunks', 1 << 20, 64 << 10],
    ['an unaligned tail', (1 << 20) + 12_345, 64 << 10],
  ])('loads %s byte for byte, reporting progress', async (_name, size, chunkSize) => {
    const data = makeFile(`file-${size}`, size);
    const progress: number[] = [];
    const result = await loadFileToDevice(path.join(dir, `file-${size}`), {
      chunkSize,
      onProgress: (loaded, total) => {
        expect(total).toBe(size);
        progress.push(loaded);
      },
    });
    try {
      expect(result.bytes).toBe(size);
      expect(result.buffer.size).toBe(size);
      expect(result.pinned).toBe(true);
      expect(progress.at(-1)).toBe(size);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(Buffer.compare(await readBack(result.buffer, 0, size), data)).toBe(0);
    } finally {
      result.buffer.free();
    }
  });

  it('loads a range of the file into an existing buffer at an offset', async () => {
    const data = makeFile('range', 256 << 10);
    using target = allocateDevice(512 << 10, { device: 1 });
    const result = await loadFileToDevice(path.join(dir, 'range'), {
      into: target,
      destinationOffset: 1000,
      offset: 64 << 10,
      length: 100_000,
      chunkSize: 64 << 10,
    });
    expect(result.buffer).toBe(target);
    const back = await readBack(target, 1000, 100_000);
    expect(Buffer.compare(back, data.subarray(64 << 10, (64 << 10) + 100_000))).toBe(0);
  });

  it('uses O_DIRECT on a disk-backed filesystem', async () => {
    makeFile('direct', 64 << 10);
    const result = await loadFileToDevice(path.join(dir, 'direct'));
    result.buffer.free();
    expect(result.direct).toBe(true);
  });

  it('refuses ranges outside the file or the destination before reading', async () => {
    makeFile('small', 8192);
    await expect(
      loadFileToDevice(path.join(dir, 'small'), { offset: 4096, length: 8192 }),
    ).rejects.toMatchObject({ name: 'InvalidArgumentError', code: 'ERR_DMEM_OUT_OF_BOUNDS' });
    using target = allocateDevice(4096);
    await expect(loadFileToDevice(path.join(dir, 'small'), { into: target })).rejects.toMatchObject(
      { code: 'ERR_DMEM_OUT_OF_BOUNDS' },
    );
    await expect(loadFileToDevice(path.join(dir, 'small'), { offset: 8192 })).rejects.toThrow(
      InvalidArgumentError,
    );
  });

  it('refuses an unaligned offset with AlignmentError from the file layer', async () => {
    makeFile('aligned', 16384);
    await expect(
      loadFileToDevice(path.join(dir, 'aligned'), { offset: 100, direct: 'require' }),
    ).rejects.toMatchObject({ name: 'AlignmentError', code: 'ERR_DMEM_ALIGNMENT' });
  });

  it('rejects bad options and missing files with coded errors', async () => {
    await expect(
      loadFileToDevice(path.join(dir, 'small'), { chunkSize: 1000 }),
    ).rejects.toMatchObject({ code: 'ERR_DMEM_INVALID_ARGUMENT' });
    await expect(
      loadFileToDevice(path.join(dir, 'small'), { chunk: 1 } as never),
    ).rejects.toMatchObject({ code: 'ERR_DMEM_UNKNOWN_OPTION' });
    await expect(loadFileToDevice(path.join(dir, 'missing'))).rejects.toMatchObject({
      name: 'SystemError',
      code: 'ENOENT',
    });
  });

  it('frees the buffer it created and unpins its staging buffers when the load fails', () => {
    makeFile('fails', 1 << 20);
    makeFile('big', 2 << 20);
    const child = runWithStandIn(
      `
      const dir = ${JSON.stringify(dir)};
      const onProgress = (loaded) => { if (loaded > 200000) throw new Error('stop at ' + loaded); };
      let stopped;
      try {
        await cuda.loadFileToDevice(dir + '/fails', { chunkSize: 65536, onProgress });
      } catch (e) { stopped = e.message; }
      // Only 1.5 MiB of device memory: this fails unless the failed load gave its 1 MiB back.
      cuda.allocateDevice(1 << 20).free();
      let oom;
      try { await cuda.loadFileToDevice(dir + '/big'); } catch (e) { oom = e; }
      console.log(JSON.stringify({ stopped, name: oom?.name, code: oom?.code }));
      `,
      { env: { DMEM_CUDA_STAND_IN_MEMORY: String(3 << 19) } },
    );
    expect(child.stderr).toBe('');
    expect(child.json).toEqual({
      stopped: 'stop at 262144',
      name: 'CudaError',
      code: 'CUDA_ERROR_OUT_OF_MEMORY',
    });
    expect(child.report).toMatchObject({ deviceAllocations: 0, registrations: 0, contextRefs: 0 });
  });
});
