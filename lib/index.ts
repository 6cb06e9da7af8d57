/** @dynamo/memory: page-aligned host memory, O_DIRECT files, CUDA and NIXL for Node.js. */
export * from './errors.js';
export { parseSize, formatSize } from './size.js';
export type { VendorMode } from './env.js';
export {
  allocate,
  pageSize,
  HostBuffer,
  type AllocateOptions,
  type HugePagesMode,
  type HugePagesObtained,
} from './host-buffer.js';
export * from './cuda/index.js';
export * from './nixl/index.js';
