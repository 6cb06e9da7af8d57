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
