/** CUDA: devices, device and pinned memory, copies, with the driver loaded at run time. */
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
export { releaseCuda } from './teardown.js';
export { loadFileToDevice } from './load.js';
export type { LoadFileOptions, LoadFileResult } from './load.js';
