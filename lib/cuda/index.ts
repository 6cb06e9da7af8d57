/** CUDA: devices, device and pinned memory, copies, with the driver loaded at run time. */
import { native } from '../binding.js';
import { callNative } from '../errors.js';

import { forgetPinnings } from './pinned.js';

export { cudaStatus, isCudaAvailable } from './status.js';
export type { CudaReason, CudaStatus, CudaStatusOptions, DeviceNode } from './status.js';
export { cudaDevices } from './devices.js';
export type { CudaDeviceInfo, CudaDevicesOptions } from './devices.js';
export { allocateDevice, DeviceBuffer } from './device-buffer.js';
export type { AllocateDeviceOptions } from './device-buffer.js';
export {
  allocatePinned,
  isPinned,
  pinHostBuffer,
  PinnedHostBuffer,
  unpinHostBuffer,
} from './pinned.js';
export type { AllocatePinnedOptions, PinOptions, WriteCombinedMode } from './pinned.js';
export { copyDeviceToDevice, copyFromDevice, copyToDevice } from './copy.js';
export type { CopyOptions, HostMemory } from './copy.js';

/**
 * Releases every CUDA resource this thread (main or worker) still owns, in a fixed order:
 * pinnings, device memory, pinned memory, then the primary contexts they retained. Views of
 * pinned memory are detached first. Objects in use by a copy are released when it ends. Later
 * `free()` calls on released objects do nothing. The same runs by itself at process and worker
 * exit; call it when you want the device memory back earlier without tracking each buffer.
 *
 * Without CUDA it does nothing.
 *
 * @returns how many objects were released.
 */
export function releaseCuda(): number {
  forgetPinnings();
  return callNative(() => native().cudaReleaseAll());
}
