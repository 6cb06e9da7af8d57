import { describe, expect, it } from 'vitest';

import { execFileSync } from 'node:child_process';

import { forkCheck } from '../support/cuda-stand-in/build.js';

import { forkHelper, runWithStandIn, standInLibrary } from './helpers.js';

// Keeps the three kinds of CUDA memory in globals, as B12 describes.
const globals = `
  globalThis.pinned = cuda.allocatePinned(64 << 20);
  globalThis.device = cuda.allocateDevice(64 << 20);
  globalThis.host = cuda.allocate(64 << 20);
  cuda.pinHostBuffer(globalThis.host);
  await cuda.copyToDevice(globalThis.device, globalThis.pinned);
`;

const released = {
  deviceAllocations: 0,
  hostAllocations: 0,
  registrations: 0,
  contextRefs: 0,
  callsWithoutContext: 0,
};

describe('CUDA teardown (B12)', () => {
  it('exits cleanly with pinned, device and registered memory alive at a natural exit', () => {
    const child = runWithStandIn(globals);
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(child.report).toMatchObject({ initCalls: 1, ...released });
  });

  it('exits cleanly on process.exit(0)', () => {
    const child = runWithStandIn(`${globals}\nprocess.exit(0);`);
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(child.report).toMatchObject(released);
  });

  it('releases everything on releaseCuda(), detaches pinned views, and later frees do nothing', () => {
    const child = runWithStandIn(
      `${globals}
      const view = globalThis.pinned.bytes;
      const count = cuda.releaseCuda();
      const state = { count, viewLength: view.length, pinnedFreed: globalThis.pinned.freed,
        deviceFreed: globalThis.device.freed, hostPinned: cuda.isPinned(globalThis.host),
        hostFreed: globalThis.host.freed };
      globalThis.pinned.free();
      globalThis.device.free();
      globalThis.host.free();
      delete globalThis.pinned; delete globalThis.device; delete globalThis.host;
      gc();
      await new Promise((resolve) => setImmediate(resolve));
      console.log(JSON.stringify(state));
      `,
      { nodeArgs: ['--expose-gc'] },
    );
    expect(child.stderr).toBe('');
    expect(child.json).toEqual({
      count: 3,
      viewLength: 0,
      pinnedFreed: true,
      deviceFreed: true,
      hostPinned: false,
      hostFreed: false,
    });
    expect(child.report).toMatchObject(released);
  });

  it('exits cleanly when another module reset the device under live allocations', () => {
    const child = runWithStandIn(
      `
      import { createRequire } from 'node:module';
      const helper = createRequire(import.meta.url)(${JSON.stringify(forkHelper())});
      ${globals}
      const result = helper.resetDevice(${JSON.stringify(standInLibrary())}, 0);
      globalThis.device.free();
      console.log(JSON.stringify({ result, freed: globalThis.device.freed }));
      `,
    );
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(child.json).toEqual({ result: 0, freed: true });
    expect(child.report).toMatchObject(released);
  });

  it('frees what a worker allocated when the worker exits or is terminated', () => {
    const child = runWithStandIn(`
      import { Worker } from 'node:worker_threads';
      const body = \`
        import * as cuda from \${JSON.stringify(process.env.DMEM_INDEX_URL)};
        import { parentPort } from 'node:worker_threads';
        globalThis.keep = [cuda.allocateDevice(1 << 20), cuda.allocatePinned(1 << 20)];
        const host = cuda.allocate(1 << 20);
        cuda.pinHostBuffer(host);
        globalThis.keep.push(host);
        if (process.env.HOW === 'exit') process.exit(0);
        parentPort.postMessage('ready');
        setInterval(() => {}, 1000);
      \`;
      for (const how of ['exit', 'terminate', 'exit', 'terminate']) {
        const worker = new Worker(new URL('data:text/javascript,' + encodeURIComponent(body)),
          { env: { ...process.env, HOW: how } });
        if (how === 'terminate') {
          await new Promise((resolve) => worker.on('message', resolve));
          await worker.terminate();
        } else {
          await new Promise((resolve) => worker.on('exit', resolve));
        }
      }
      const { native } = await import(process.env.DMEM_BINDING_URL);
      console.log(JSON.stringify({ owners: native().cudaContextOwners(0) }));
    `);
    expect(child.stderr).toBe('');
    expect(child.json).toEqual({ owners: 0 });
    expect(child.report).toMatchObject(released);
  });

  it('survives a worker terminated while its copies are in flight', () => {
    const child = runWithStandIn(
      `
      import { Worker } from 'node:worker_threads';
      const body = \`
        import * as cuda from \${JSON.stringify(process.env.DMEM_INDEX_URL)};
        import { parentPort } from 'node:worker_threads';
        const device = cuda.allocateDevice(128 << 20);
        const host = cuda.allocate(128 << 20);
        for (let i = 0; i < 4; i++) cuda.copyToDevice(device, host);
        parentPort.postMessage('copying');
      \`;
      for (let i = 0; i < 3; i++) {
        const worker = new Worker(new URL('data:text/javascript,' + encodeURIComponent(body)));
        await new Promise((resolve) => worker.on('message', resolve));
        await worker.terminate();
      }
      console.log(JSON.stringify({ ok: true }));
    `,
      { env: { DMEM_CUDA_STAND_IN_MEMORY: String(1 << 30) } },
    );
    expect(child.stderr).toBe('');
    expect(child.json).toEqual({ ok: true });
    expect(child.report).toMatchObject(released);
  });

  it('frees pinned memory dropped without free() once the buffer and its views are collected', () => {
    const child = runWithStandIn(
      `
      const settle = async () => {
        for (let i = 0; i < 5; i++) { gc(); await new Promise((resolve) => setImmediate(resolve)); }
      };
      let view = cuda.allocatePinned(1 << 20).bytes;
      await settle();
      view[0] = 1; // the view alone keeps the memory
      const kept = (await import(process.env.DMEM_BINDING_URL)).native().cudaContextOwners(0);
      view = undefined;
      await settle();
      const { native } = await import(process.env.DMEM_BINDING_URL);
      console.log(JSON.stringify({ kept, after: native().cudaContextOwners(0) }));
      `,
      { nodeArgs: ['--expose-gc'] },
    );
    expect(child.stderr).toBe('');
    expect(child.json).toEqual({ kept: 1, after: 0 });
  });

  it('frees a device buffer dropped without free() once it is collected', () => {
    const child = runWithStandIn(
      `
      const { native } = await import(process.env.DMEM_BINDING_URL);
      for (let i = 0; i < 100; i++) cuda.allocateDevice(1 << 20);
      for (let i = 0; i < 5; i++) { gc(); await new Promise((resolve) => setImmediate(resolve)); }
      console.log(JSON.stringify({ owners: native().cudaContextOwners(0) }));
      `,
      { nodeArgs: ['--expose-gc'] },
    );
    expect(child.stderr).toBe('');
    expect(child.json).toEqual({ owners: 0 });
  });
});

describe('CUDA and fork (B15)', () => {
  it('works in a child started with child_process.fork() after the parent pinned memory', () => {
    const child = runWithStandIn(`
      import { fork } from 'node:child_process';
      const host = cuda.allocate(4096);
      cuda.pinHostBuffer(host);
      const childProcess = fork('/dev/null', [], {
        execArgv: ['--input-type=module', '-e', \`
          import * as cuda from \${JSON.stringify(process.env.DMEM_INDEX_URL)};
          const buffer = cuda.allocateDevice(4096);
          buffer.free();
          process.send(cuda.cudaStatus().reason);
        \`],
      });
      const reason = await new Promise((resolve) => childProcess.on('message', resolve));
      await new Promise((resolve) => childProcess.on('exit', resolve));
      host.free();
      console.log(JSON.stringify({ reason }));
    `);
    expect(child.stderr).toBe('');
    expect(child.json).toEqual({ reason: 'ok' });
  });

  it('tells a child forked without exec that CUDA was initialised before the fork', () => {
    // Node cannot run JS in a child forked without exec (its heap is not usable there), so this
    // drives the same core code that cudaStatus() and every allocation go through.
    const output = execFileSync(forkCheck(), [standInLibrary()], { encoding: 'utf8' });
    const [parent, child, exit] = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(parent).toEqual({ who: 'parent', reason: 'ok', code: 'none', errorReason: '' });
    expect(child).toEqual({
      who: 'child',
      reason: 'forked-after-init',
      code: 'ERR_DMEM_CUDA_UNAVAILABLE',
      errorReason: 'forked-after-init',
    });
    expect(exit).toEqual({ who: 'exit', status: 0 });
  });
});
