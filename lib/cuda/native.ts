/** The CUDA section of the addon's surface (cpp/binding/cuda.cpp). */
import type { NativeHandle } from '../binding.js';

/** A native CUDA handle (device buffer, pinned buffer or pinning). */
export type CudaHandle = NativeHandle;

/** What the driver probe reports; see cuda_runtime.hpp. */
export interface NativeCudaStatus {
  available: boolean;
  reason: string;
  message: string;
  library: string;
  standIn: boolean;
  loadError: string;
  cudaError: string;
  cudaErrorText: string;
  driverVersion: number;
  deviceCount: number;
  initPid: number;
}

export interface NativeDeviceInfo {
  ordinal: number;
  name: string;
  uuid: string;
  pciBusId: string;
  computeMajor: number;
  computeMinor: number;
  totalMemory: number;
  freeMemory?: number;
}

export interface CudaHandleState {
  released: boolean;
  holds: number;
}

declare module '../binding.js' {
  interface NativeBinding {
    cudaStatus(standInPath: string): NativeCudaStatus;
    cudaDeviceInfo(ordinal: number, freeMemory: boolean): NativeDeviceInfo;
    cudaContextOwners(ordinal: number): number;
    cudaPointerKind(address: bigint): { kind: string; device: number };
    cudaDeviceAlloc(ordinal: number, size: number): { handle: CudaHandle; address: bigint };
    cudaDeviceFree(handle: CudaHandle): boolean;
    cudaPinnedAlloc(
      ordinal: number,
      size: number,
      writeCombined: string,
    ): {
      handle: CudaHandle;
      buffer: ArrayBuffer;
      address: bigint;
      writeCombined: boolean;
      flags: number;
    };
    cudaPinnedFree(handle: CudaHandle): boolean;
    cudaPin(hostHandle: CudaHandle, ordinal: number): CudaHandle;
    cudaUnpin(handle: CudaHandle): boolean;
    cudaCopy(
      kind: 'htod' | 'dtoh' | 'dtod',
      destination: CudaHandle,
      destinationOffset: number,
      source: CudaHandle,
      sourceOffset: number,
      length: number,
    ): Promise<void>;
    cudaReleaseAll(): number;
    cudaHandleState(handle: CudaHandle): CudaHandleState;
  }
}
