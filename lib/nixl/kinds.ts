/**
 * The memory kinds NIXL can register, wired to their classes. Importing this module (which
 * lib/nixl/agent.ts does) makes them known to lib/nixl/memory.ts.
 */
import { deviceAllocationOf, DeviceBuffer, onFree, pointerKind } from '../cuda/device-buffer.js';
import { DirectFile, onClose } from '../direct-file.js';
import { NixlError } from '../errors.js';
import { HostBuffer, onRelease } from '../host-buffer.js';

import { addMemoryKind, disposed } from './memory.js';

// Host memory: plain, locked or pinned with pinHostBuffer(); always DRAM with devId 0.
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

// Device memory: VRAM with the CUDA ordinal as devId. The driver is asked what the address
// really is, so that memory UCX would misclassify never reaches NIXL as VRAM (case B18).
addMemoryKind<DeviceBuffer>({
  name: 'device',
  memType: 'VRAM',
  matches: (value): value is DeviceBuffer => value instanceof DeviceBuffer,
  describe(buffer) {
    const { address, size, device } = deviceAllocationOf(buffer);
    const actual = pointerKind(address);
    if (actual.kind === 'host' || (actual.kind === 'device' && actual.device !== device)) {
      throw new NixlError(
        'ERR_DMEM_NIXL_MEMORY_MISMATCH',
        `Cannot register device memory of CUDA device ${device} as VRAM: the driver reports ` +
          `${address} as ${actual.kind} memory${actual.device !== null ? ` of device ${actual.device}` : ''}`,
      );
    }
    return { addr: address, size: BigInt(size), devId: BigInt(device) };
  },
  onRelease: (buffer, hook) => onFree(buffer, hook),
});

// O_DIRECT files: FILE with the file offset as addr and the descriptor as devId (NIXL's
// fd mode; NIXL neither dups nor closes it, so close() deregisters first).
addMemoryKind<DirectFile>({
  name: 'file',
  memType: 'FILE',
  matches: (value): value is DirectFile => value instanceof DirectFile,
  describe: (file) => ({ addr: 0n, size: BigInt(file.size), devId: BigInt(file.fd) }),
  onRelease: (file, hook) => onClose(file, hook),
});
