/** CUDA devices as this process sees them. See docs/cuda.md. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { native } from '../binding.js';
import { callNative } from '../errors.js';

import { cudaStatus } from './status.js';

/** One CUDA device. */
export interface CudaDeviceInfo {
  /** The CUDA ordinal (after `CUDA_VISIBLE_DEVICES`), as NIXL's VRAM `devId` uses it. */
  ordinal: number;
  name: string;
  /** `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, as nvidia-smi prints it. */
  uuid: string;
  /** PCI address as `domain:bus:device.function`, lower case, e.g. `0000:65:00.0`. */
  pciBusId: string;
  /** Compute capability, e.g. `'9.0'`. */
  computeCapability: string;
  /** Bytes of device memory. */
  totalMemory: number;
  /** Bytes free now, or null when not asked for or not known. */
  freeMemory: number | null;
  /** The host NUMA node the device is attached to (sysfs), or null when unknown. */
  numaNode: number | null;
  /** Set when the driver could not describe this device; the other fields are then empty. */
  error?: string;
}

/** Options of {@link cudaDevices}. */
export interface CudaDevicesOptions {
  /**
   * Ask each device for its free memory. This needs the device's primary context, which the
   * driver creates if no one holds it (some time and a few hundred MiB of device memory), and
   * releases afterwards. Defaults to `true`.
   */
  freeMemory?: boolean;
}

/** @internal Test seam: where sysfs lives. */
export const sysfsSettings = { root: '/sys' };

/**
 * Lists the CUDA devices visible to this process. Never throws: without CUDA the list is empty
 * (see {@link cudaStatus} for why), a device the driver cannot describe is listed with `error`,
 * and malformed options fall back to the defaults.
 */
export function cudaDevices(options: CudaDevicesOptions = {}): CudaDeviceInfo[] {
  // A listing for diagnostics: a malformed options object falls back to the defaults.
  const freeMemory = (options as CudaDevicesOptions | null)?.freeMemory !== false;
  const status = cudaStatus();
  if (!status.available) return [];

  const devices: CudaDeviceInfo[] = [];
  for (let ordinal = 0; ordinal < status.deviceCount; ordinal++) {
    try {
      const info = callNative(() => native().cudaDeviceInfo(ordinal, freeMemory));
      const pciBusId = normalizeBusId(info.pciBusId);
      devices.push({
        ordinal,
        name: info.name,
        uuid: info.uuid,
        pciBusId,
        computeCapability: `${info.computeMajor}.${info.computeMinor}`,
        totalMemory: info.totalMemory,
        freeMemory: info.freeMemory ?? null,
        numaNode: numaNodeOf(pciBusId),
      });
    } catch (failure) {
      devices.push({
        ordinal,
        name: '',
        uuid: '',
        pciBusId: '',
        computeCapability: '',
        totalMemory: 0,
        freeMemory: null,
        numaNode: null,
        error: failure instanceof Error ? failure.message : String(failure),
      });
    }
  }
  return devices;
}

/**
 * @internal The driver writes `0000:65:00.0` or `00000000:65:00.0`, in either case; sysfs uses
 * a 4-digit lower-case domain.
 */
export function normalizeBusId(busId: string): string {
  const match = /^([0-9a-f]+):([0-9a-f]{2}):([0-9a-f]{2})\.([0-9a-f])$/i.exec(busId.trim());
  if (!match) return busId.trim().toLowerCase();
  const domain = match[1]!.toLowerCase().padStart(4, '0').slice(-4);
  return `${domain}:${match[2]!.toLowerCase()}:${match[3]!.toLowerCase()}.${match[4]}`;
}

/** @internal The NUMA node of a PCI device from sysfs; null when unknown or not NUMA (-1). */
export function numaNodeOf(pciBusId: string): number | null {
  try {
    const file = path.join(sysfsSettings.root, 'bus/pci/devices', pciBusId, 'numa_node');
    const node = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(node) && node >= 0 ? node : null;
  } catch {
    return null;
  }
}
