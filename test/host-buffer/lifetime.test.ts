import { describe, expect, it } from 'vitest';

import { distUrl, runModule } from '../support/child.js';

const hostBuffer = distUrl('host-buffer.js');

describe('HostBuffer finalizer backstop', () => {
  it('keeps RSS bounded while 8 GiB in 4 MiB buffers are allocated and dropped without free()', () => {
    const child = runModule(
      `
      import { allocate } from ${JSON.stringify(hostBuffer)};
      const rssSamples = [];
      for (let i = 0; i < 2048; i++) {
        const buffer = allocate(4 << 20, { zero: false });
        buffer.bytes.fill(1);
        if (i % 16 === 0) {
          await new Promise((resolve) => setImmediate(resolve));
          rssSamples.push(process.memoryUsage().rss);
        }
      }
      console.log(JSON.stringify({ peakRss: Math.max(...rssSamples) }));
      `,
      { nodeArgs: ['--max-old-space-size=256'] },
    );
    expect(child.stderr).toBe('');
    const { peakRss } = child.json as { peakRss: number };
    // 8 GiB went through; a leak would hold gigabytes. V8 is told about every allocation, so GC
    // runs long before that.
    expect(peakRss).toBeLessThan(1.5 * 1024 ** 3);
  });

  it('reports native memory to V8 and gives it back on free() and on collection', () => {
    const child = runModule(
      `
      import { allocate } from ${JSON.stringify(hostBuffer)};
      const tick = () => new Promise((resolve) => setImmediate(resolve));
      const settle = async () => { for (let i = 0; i < 5; i++) { gc(); await tick(); } };
      await settle();
      const base = process.memoryUsage().external;
      let buffers = Array.from({ length: 16 }, () => allocate(16 << 20));
      const held = process.memoryUsage().external - base;
      for (const buffer of buffers.slice(0, 8)) buffer.free();
      const afterFree = process.memoryUsage().external - base;
      buffers = undefined;
      await settle();
      const afterGc = process.memoryUsage().external - base;
      console.log(JSON.stringify({ held, afterFree, afterGc }));
      `,
      { nodeArgs: ['--expose-gc'] },
    );
    const { held, afterFree, afterGc } = child.json as Record<string, number>;
    const mib = 1024 ** 2;
    expect(held).toBeGreaterThanOrEqual(256 * mib);
    expect(afterFree).toBeGreaterThanOrEqual(120 * mib);
    expect(afterFree).toBeLessThanOrEqual(140 * mib);
    expect(Math.abs(afterGc)).toBeLessThan(8 * mib);
  });

  it('plateaus under --max-old-space-size=64 with 5,000 x 1 MiB dropped buffers and no gc()', () => {
    const child = runModule(
      `
      import { allocate } from ${JSON.stringify(hostBuffer)};
      let peak = 0;
      for (let i = 0; i < 5000; i++) {
        allocate(1 << 20).bytes[0] = 1;
        await new Promise((resolve) => setImmediate(resolve));
        if (i % 100 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      }
      console.log(JSON.stringify({ peak }));
      `,
      { nodeArgs: ['--max-old-space-size=64'] },
    );
    expect(child.status).toBe(0);
    expect((child.json as { peak: number }).peak).toBeLessThan(1024 ** 3);
  });
});

describe('HostBuffer in worker threads', () => {
  it('allocates and frees in workers, releases live buffers when workers exit, keeps copies', () => {
    const child = runModule(
      `
      import { Worker } from 'node:worker_threads';
      const workerSource = \`
        import { parentPort, workerData } from 'node:worker_threads';
        import(workerData.url).then(({ allocate }) => {
          const kept = [];
          for (let i = 0; i < 100; i++) {
            const buffer = allocate(1 << 20);
            buffer.bytes.fill(i);
            if (i % 10 === 0) parentPort.postMessage({ index: i, copy: buffer.bytes });
            if (i % 2 === 0) buffer.free(); else kept.push(buffer);
          }
          parentPort.postMessage('done');
          if (workerData.how === 'exit') process.exit(0);
          setInterval(() => kept.length, 1000);
        });
      \`;
      const run = (how) => new Promise((resolve, reject) => {
        const copies = [];
        const worker = new Worker(workerSource, { eval: true, workerData: { url: ${JSON.stringify(hostBuffer)}, how } });
        worker.on('message', (message) => {
          if (message === 'done') { if (how === 'terminate') worker.terminate(); }
          else copies.push(message);
        });
        worker.on('error', reject);
        worker.on('exit', () => resolve(copies));
      });
      const settle = async () => { for (let i = 0; i < 5; i++) { gc(); await new Promise((r) => setImmediate(r)); } };
      await settle();
      const baseline = process.memoryUsage().rss;
      const copies = [...await run('exit'), ...await run('terminate')];
      const intact = copies.every(({ index, copy }) => copy.length === 1 << 20 && copy.every((b) => b === index));
      for (let cycle = 0; cycle < 50; cycle++) await run(cycle % 2 ? 'exit' : 'terminate');
      await settle();
      const growth = process.memoryUsage().rss - baseline;
      console.log(JSON.stringify({ copies: copies.length, intact, growth }));
      `,
      { nodeArgs: ['--expose-gc'], timeout: 240_000 },
    );
    expect(child.stderr).toBe('');
    const result = child.json as { copies: number; intact: boolean; growth: number };
    expect(result.copies).toBe(20);
    expect(result.intact).toBe(true);
    // 52 workers each left 50 MiB alive at exit; a leak would show gigabytes.
    expect(result.growth).toBeLessThan(400 * 1024 ** 2);
  });

  it('never moves a buffer to another thread: transfer leaves the original attached and intact', () => {
    const child = runModule(
      `
      import { Worker } from 'node:worker_threads';
      import { allocate } from ${JSON.stringify(hostBuffer)};
      const buffer = allocate(1 << 20);
      buffer.bytes.fill(7);
      const outcomes = {};
      try {
        structuredClone(buffer.bytes, { transfer: [buffer.arrayBuffer] });
        outcomes.structuredClone = 'copied';
      } catch (error) { outcomes.structuredClone = error.name; }
      const worker = new Worker('import { parentPort } from "node:worker_threads"; parentPort.once("message", (m) => parentPort.postMessage(m.length));', { eval: true });
      try {
        worker.postMessage(buffer.bytes, [buffer.arrayBuffer]);
        outcomes.postMessage = 'copied:' + await new Promise((resolve) => worker.once('message', resolve));
      } catch (error) { outcomes.postMessage = error.name; }
      await worker.terminate();
      outcomes.attached = buffer.bytes.length;
      outcomes.intact = buffer.bytes.every((b) => b === 7);
      buffer.free();
      console.log(JSON.stringify(outcomes));
      `,
    );
    expect(child.stderr).toBe('');
    const outcomes = child.json as Record<string, unknown>;
    expect(outcomes.attached).toBe(1 << 20);
    expect(outcomes.intact).toBe(true);
    // Node marks external ArrayBuffers untransferable: depending on the API it throws
    // DataCloneError or copies (docs/host-memory.md records which on Node 20).
    expect(['DataCloneError', 'copied']).toContain(outcomes.structuredClone);
    expect(['DataCloneError', `copied:${1 << 20}`]).toContain(outcomes.postMessage);
    console.info('transfer outcomes on', process.version, outcomes);
  });
});
