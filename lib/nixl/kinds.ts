/**
 * The memory kinds NIXL can register, wired to their classes. Importing this module (which
 * lib/nixl/agent.ts does) makes them known to lib/nixl/memory.ts.
 */
import { HostBuffer, onRelease } from '../host-buffer.js';

import { addMemoryKind, disposed } from './memory.js';

// Host memory: plain, locked or pinned, always DRAM with devId 0.
addMemoryKind<HostBuffer>({
  name: 'host',
  memType: 'DRAM',
  matches: (value): value is HostBuffer => value instanceof HostBuffer,
  describe(buffer) {
    if (buffer.freed) throw disposed('ERR_DMEM_BUFFER_FREED', 'The host buffer was already freed');
    return { addr: buffer.address, size: BigInt(buffer.size), devId: 0n };
  },
  onRelease: (buffer, hook) => onRelease(buffer, hook),
});
