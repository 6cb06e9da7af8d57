import { createHash, randomFillSync } from 'node:crypto';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { describe, expect, it } from 'vitest';

import { openFile } from '../../lib/direct-file.js';
import { allocate } from '../../lib/host-buffer.js';
import { distUrl, runModule } from '../support/child.js';
import { scratchDir } from './support.js';

const GiB = 1024 * 1024 * 1024;

function hash(bytes: Uint8Array): string {
  const digest = createHash('sha256');
  for (let at = 0; at < bytes.length; at += 64 << 20) {
    digest.update(bytes.subarray(at, Math.min(bytes.length, at + (64 << 20))));
  }
  return digest.digest('hex');
}

describe('large parallel I/O', () => {
  it('writes and reads back 1 GiB of random data intact, without blocking the event loop', async () => {
    const dir = scratchDir();
    await using file = openFile(path.join(dir, 'big.bin'), { create: true, direct: 'require' });
    using source = allocate(GiB, { zero: false });
    for (let at = 0; at < GiB; at += 64 << 20) {
      randomFillSync(source.bytes, at, 64 << 20);
    }
    const expected = hash(source.bytes);

    // Timer lag while the transfer runs: a blocked loop would show one gap as long as the I/O.
    const delay = monitorEventLoopDelay({ resolution: 5 });
    let ticks = 0;
    let last = performance.now();
    let worstGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 5);
    delay.enable();
    const started = performance.now();
    expect(await file.write(source, 0)).toBe(GiB);
    await file.datasync();
    using target = allocate(GiB, { zero: false });
    expect(await file.read(target, 0)).toBe(GiB);
    const elapsed = performance.now() - started;
    delay.disable();
    clearInterval(timer);

    const p99 = delay.percentile(99) / 1e6;
    console.info(
      `1 GiB write+read ${elapsed.toFixed(0)} ms on ${file.filesystem}: ${ticks} ticks, ` +
        `worst gap ${worstGap.toFixed(1)} ms, loop delay p99 ${p99.toFixed(1)} ms`,
    );
    expect(ticks).toBeGreaterThan(elapsed / 5 / 10);
    expect(worstGap).toBeLessThan(Math.max(250, elapsed / 4));
    expect(hash(target.bytes)).toBe(expected);
  });
});

describe('buffer lifetime during I/O', () => {
  it('keeps a plain buffer alive while I/O runs after JS dropped every reference', () => {
    const dir = scratchDir();
    const result = runModule(
      `
      import { openFile } from ${JSON.stringify(distUrl('direct-file.js'))};
      import { allocate } from ${JSON.stringify(distUrl('host-buffer.js'))};
      const file = openFile(${JSON.stringify(path.join(dir, 'gc.bin'))}, { create: true, direct: 'off' });
      const refs = [];
      const pending = [];
      for (let i = 0; i < 8; i++) {
        let view = new Uint8Array(32 << 20).fill(i + 1);
        refs.push(new WeakRef(view.buffer));
        pending.push(file.write(view, i * (32 << 20)));
        view = null;
      }
      let host = allocate(32 << 20);
      host.bytes.fill(99);
      const hostRef = new WeakRef(host);
      pending.push(file.write(host, 8 * (32 << 20)));
      host = null;
      globalThis.gc();
      const aliveDuring = refs.filter((ref) => ref.deref() !== undefined).length;
      const counts = await Promise.all(pending);
      await new Promise((resolve) => setTimeout(resolve, 10));
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
      globalThis.gc();
      const aliveAfter = refs.filter((ref) => ref.deref() !== undefined).length;
      const check = new Uint8Array(4096);
      await file.read(check, 5 * (32 << 20) + 4096);
      const hostCheck = new Uint8Array(4096);
      await file.read(hostCheck, 8 * (32 << 20));
      await file.close();
      console.log(JSON.stringify({ aliveDuring, aliveAfter, counts, byte: check[100],
        hostByte: hostCheck[7], hostCollected: hostRef.deref() === undefined }));
      `,
      { nodeArgs: ['--expose-gc'] },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const out = result.json as Record<string, unknown>;
    expect(out['counts']).toEqual(Array(9).fill(32 << 20));
    expect(out['byte']).toBe(6);
    expect(out['hostByte']).toBe(99);
    // Every ArrayBuffer survives gc() while its write is in flight and is collected after.
    expect(out['aliveDuring']).toBe(8);
    expect(out['aliveAfter']).toBe(0);
  });
});
