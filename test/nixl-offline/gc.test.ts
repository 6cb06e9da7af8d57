// A registration holds its memory (case B17a): with every other reference dropped and GC run,
// the registration still moves data from it; once deregistered, the memory can be collected.
// Runs in a child with --expose-gc against the compiled package and the C API stand-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { distUrl, runModule } from '../support/child.js';

import { buildPrefix, compiler, removePrefix } from './standin.js';

let prefix: string | undefined;
beforeAll(() => {
  if (compiler) prefix = buildPrefix();
});
afterAll(() => removePrefix(prefix));

const script = `
import { allocate, NixlAgent } from '${distUrl('index.js')}';

const collect = async () => {
  for (let i = 0; i < 6; i++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
};

const agent = NixlAgent.create('gc');
agent.createBackend('UCX');
const sink = allocate(4096);
const sinkRegistration = agent.register(sink);

function registerDropped() {
  const buffer = allocate(4096);
  buffer.bytes.fill(42);
  return [agent.register(buffer), new WeakRef(buffer)];
}
let [registration, ref] = registerDropped();

await collect();
const aliveWhileRegistered = ref.deref() !== undefined;
await agent.transfer('WRITE', registration, sinkRegistration);
const moved = sink.bytes.every((byte) => byte === 42);

registration.deregister();
registration = undefined;
await collect();
const aliveAfter = ref.deref() !== undefined;
agent.close();
console.log(JSON.stringify({ aliveWhileRegistered, moved, aliveAfter }));
`;

// Workers that end with an agent open and a transfer in flight (held in progress by the stand-in):
// by process.exit() inside, and by terminate() from outside. The environment's cleanup closes the
// agent; nothing may crash once the worker's environment is gone.
const workerScript = `
import { Worker } from 'node:worker_threads';
const body = \`
  import { allocate, NixlAgent } from '${distUrl('index.js')}';
  import { parentPort, workerData } from 'node:worker_threads';
  const agent = NixlAgent.create('worker-' + workerData);
  agent.createBackend('UCX');
  const source = allocate(4096);
  const sink = allocate(4096);
  const registration = agent.register([source, sink]);
  agent.createTransfer('WRITE', source, registration.descriptors[1]).post().catch(() => {});
  parentPort.postMessage('posted');
  if (workerData % 2 === 0) process.exit(0);
\`;
const url = new URL('data:text/javascript,' + encodeURIComponent(body));
let ended = 0;
for (let i = 0; i < 4; i++) {
  const worker = new Worker(url, { workerData: i });
  worker.on('message', () => { if (i % 2 === 1) worker.terminate(); });
  await new Promise((resolve, reject) => worker.on('exit', resolve).on('error', reject));
  ended++;
}
await new Promise((resolve) => setTimeout(resolve, 50));
console.log(JSON.stringify({ ended }));
`;

describe.skipIf(!compiler)('NixlRegistration and GC (needs a C++ compiler)', () => {
  it('keeps registered memory alive through GC and lets it go once deregistered', () => {
    const result = runModule(script, {
      nodeArgs: ['--expose-gc'],
      env: { NIXL_PREFIX: prefix!, DYNAMO_MEMORY_NIXL: 'require' },
    });
    expect(result.stderr).toBe('');
    expect(result.json).toEqual({ aliveWhileRegistered: true, moved: true, aliveAfter: false });
  });
});

describe.skipIf(!compiler)('NixlAgent in a worker that ends (needs a C++ compiler)', () => {
  it.each([
    ['held in progress', '1'],
    ['completing after the worker ended', ''],
  ])('closes with the worker’s environment, a transfer %s, without crashing', (_, hold) => {
    const result = runModule(workerScript, {
      env: { NIXL_PREFIX: prefix!, NIXL_STANDIN_HOLD: hold },
      timeout: 60_000,
    });
    expect(result.signal).toBeNull();
    expect(result.stderr).toBe('');
    expect(result.json).toEqual({ ended: 4 });
  });
});
