/**
 * Whether CUDA can be used here, and why not: the driver library is loaded on first use, never at
 * import, and every reason it cannot be used is reported without throwing. See docs/cuda.md.
 */
import { accessSync, constants as fsConstants, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { native } from '../binding.js';
import { debug } from '../debug.js';
import { readModeEnv, type VendorMode } from '../env.js';
import { CudaUnavailableError, checkOptionKeys, invalidArgument } from '../errors.js';

import type { NativeCudaStatus } from './native.js';

/** Why CUDA is or is not usable; values are stable and documented in docs/cuda.md. */
export type CudaReason =
  | 'ok'
  | 'disabled'
  | 'invalid-setting'
  | 'addon-unavailable'
  | 'library-not-found'
  | 'library-incompatible'
  | 'stub-library'
  | 'insufficient-driver'
  | 'no-device'
  | 'devices-hidden'
  | 'permission-denied'
  | 'forked-after-init'
  | 'init-failed';

/** One `/dev/nvidia*` node as this process sees it. */
export interface DeviceNode {
  path: string;
  /** Permission bits, e.g. `0o660`. */
  mode: number;
  uid: number;
  gid: number;
  /** Whether this process may open it for reading and writing (`access(R_OK|W_OK)`). */
  accessible: boolean;
}

/** The answer of {@link cudaStatus}. */
export interface CudaStatus {
  /** True when devices can be used. */
  available: boolean;
  /** The mode the answer was given for. */
  mode: VendorMode;
  reason: CudaReason;
  /** One sentence for people: what is wrong and what to do. */
  message: string;
  /** The driver library opened or tried (`libcuda.so.1`), or `null` when none was tried. */
  library: string | null;
  /** True when the library is the test stand-in (`DYNAMO_MEMORY_CUDA_STAND_IN`). */
  standIn: boolean;
  /** The loader's error text when the library could not be loaded. */
  loadError: string | null;
  /** The `CUDA_ERROR_*` name of the failed initialisation, with the driver's description. */
  cudaError: { code: string; description: string } | null;
  /** The driver's CUDA version, e.g. `'13.0'`; null when unknown. */
  driverVersion: string | null;
  /** Devices visible to this process (0 when not available). */
  deviceCount: number;
  /** `/dev/nvidia*` nodes, reported when initialisation failed. */
  deviceNodes: DeviceNode[];
  /** `CUDA_VISIBLE_DEVICES` as this process sees it; null when unset. */
  visibleDevices: string | null;
}

/** Options of {@link cudaStatus}. */
export interface CudaStatusOptions {
  /** Overrides `DYNAMO_MEMORY_CUDA`. Defaults to the variable, else `'auto'`. */
  mode?: VendorMode;
}

/** @internal Test seams: where device nodes live. */
export const probeSettings = { devDir: '/dev' };

const statusKeys = ['mode'] as const;

/**
 * Reports whether CUDA can be used and, when not, why: the driver library is missing, is the
 * toolkit's stub, finds no device, has every device hidden by `CUDA_VISIBLE_DEVICES`, is denied
 * access to `/dev/nvidia*`, or was initialised by a parent process before `fork()`. The first
 * call loads and initialises the driver (unless the mode is `'off'`); later calls are cheap.
 *
 * Never throws: an invalid option or environment value gives `reason: 'invalid-setting'`.
 */
export function cudaStatus(options: CudaStatusOptions = {}): CudaStatus {
  const base = {
    available: false,
    library: null,
    standIn: false,
    loadError: null,
    cudaError: null,
    driverVersion: null,
    deviceCount: 0,
    deviceNodes: [],
    visibleDevices: process.env.CUDA_VISIBLE_DEVICES ?? null,
  };
  let mode: VendorMode;
  let standInPath: string;
  try {
    mode = resolveMode(options);
    standInPath = standInLibrary();
  } catch (failure) {
    const message = failure instanceof Error ? failure.message : String(failure);
    return { ...base, mode: 'auto', reason: 'invalid-setting', message };
  }
  if (mode === 'off') {
    return {
      ...base,
      mode,
      reason: 'disabled',
      message: 'CUDA is turned off (DYNAMO_MEMORY_CUDA=off or mode: "off")',
    };
  }

  let probed: NativeCudaStatus;
  try {
    probed = native().cudaStatus(standInPath);
  } catch (failure) {
    const message = failure instanceof Error ? failure.message : String(failure);
    return { ...base, mode, reason: 'addon-unavailable', message };
  }
  const status: CudaStatus = {
    ...base,
    mode,
    available: probed.available,
    reason: probed.reason as CudaReason,
    message: probed.message,
    library: probed.library || null,
    standIn: probed.standIn,
    loadError: probed.loadError || null,
    cudaError: probed.cudaError
      ? { code: probed.cudaError, description: probed.cudaErrorText }
      : null,
    driverVersion:
      probed.driverVersion > 0
        ? `${Math.floor(probed.driverVersion / 1000)}.${(probed.driverVersion % 1000) / 10}`
        : null,
    deviceCount: probed.deviceCount,
  };
  if (status.reason === 'no-device' || status.reason === 'init-failed') refine(status);
  return status;
}

/** Names the cause the driver does not: device nodes this process may not open, or devices
 * hidden by CUDA_VISIBLE_DEVICES. Permissions first: they hide devices whatever the variable. */
function refine(status: CudaStatus): void {
  status.deviceNodes = deviceNodes(probeSettings.devDir);
  const denied = status.deviceNodes.find((node) => !node.accessible);
  if (denied) {
    const groups = process.getgroups?.() ?? [];
    status.reason = 'permission-denied';
    status.message =
      `permission denied on ${denied.path} (mode 0${denied.mode.toString(8)}, owner ` +
      `${denied.uid}:${denied.gid}); this process (uid ${process.getuid?.()}, groups ` +
      `${groups.join(',') || 'none'}) cannot open it: add group ${denied.gid} as a ` +
      `supplementary group (docker --group-add ${denied.gid}) or fix the node's mode`;
    return;
  }
  if (status.visibleDevices !== null) {
    status.reason = 'devices-hidden';
    status.message =
      `no CUDA device is visible: CUDA_VISIBLE_DEVICES=${JSON.stringify(status.visibleDevices)} ` +
      `hides every device (${status.message})`;
  }
}

/** @internal Lists `nvidiactl`, `nvidia<N>` and `nvidia-uvm` under `devDir`. Never throws. */
export function deviceNodes(devDir: string): DeviceNode[] {
  let names: string[];
  try {
    names = readdirSync(devDir).filter((name) => /^nvidia(ctl|\d+|-uvm)$/.test(name));
  } catch {
    return [];
  }
  const nodes: DeviceNode[] = [];
  for (const name of names.sort()) {
    const nodePath = path.join(devDir, name);
    try {
      const stats = statSync(nodePath);
      let accessible = true;
      try {
        accessSync(nodePath, fsConstants.R_OK | fsConstants.W_OK);
      } catch {
        accessible = false;
      }
      nodes.push({
        path: nodePath,
        mode: stats.mode & 0o7777,
        uid: stats.uid,
        gid: stats.gid,
        accessible,
      });
    } catch {
      // vanished between readdir and stat: not ours to report
    }
  }
  return nodes;
}

/** True when CUDA devices can be used now. Never throws. */
export function isCudaAvailable(options: CudaStatusOptions = {}): boolean {
  return cudaStatus(options).available;
}

/** @internal The mode from `options.mode`, else `DYNAMO_MEMORY_CUDA`, else `'auto'`. */
export function resolveMode(options: CudaStatusOptions): VendorMode {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(options, statusKeys, 'cudaStatus()');
  if (options.mode !== undefined) {
    if (options.mode !== 'auto' && options.mode !== 'require' && options.mode !== 'off') {
      throw invalidArgument('options.mode', "one of 'auto', 'require', 'off'", options.mode);
    }
    return options.mode;
  }
  return readModeEnv('DYNAMO_MEMORY_CUDA', 'auto');
}

/** The stand-in library path, or '' for the real driver. Read each time; the first use wins. */
function standInLibrary(): string {
  const value = process.env.DYNAMO_MEMORY_CUDA_STAND_IN?.trim() ?? '';
  if (value !== '' && !path.isAbsolute(value)) {
    throw invalidArgument(
      'environment variable DYNAMO_MEMORY_CUDA_STAND_IN',
      'an absolute path to the test stand-in library',
      value,
      'ERR_DMEM_INVALID_ENV',
    );
  }
  return value;
}

/**
 * @internal Throws unless CUDA is usable. Every call that needs a device goes through here, so
 * that the error names the reason the same way the status does.
 * @throws {CudaUnavailableError} `ERR_DMEM_CUDA_UNAVAILABLE` with `reason`.
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ENV` for a bad `DYNAMO_MEMORY_CUDA`.
 */
export function requireCuda(mode?: VendorMode): CudaStatus {
  const status = cudaStatus(mode === undefined ? {} : { mode });
  if (status.reason === 'invalid-setting') {
    // Surface the original, coded error rather than a status.
    resolveMode(mode === undefined ? {} : { mode });
    standInLibrary();
  }
  if (!status.available) throw unavailable(status);
  return status;
}

/** @internal The error for an unusable status. */
export function unavailable(status: CudaStatus): CudaUnavailableError {
  const error = new CudaUnavailableError(
    'ERR_DMEM_CUDA_UNAVAILABLE',
    `CUDA is not available (${status.reason}): ${status.message}`,
  );
  Object.assign(error, { reason: status.reason });
  if (status.cudaError) Object.assign(error, { cudaError: status.cudaError.code });
  return error;
}

const warned = new Set<string>();

/**
 * @internal For calls that degrade in `'auto'` mode: returns false after one process warning
 * when CUDA is unusable, throws in `'require'` mode.
 */
export function cudaOrDegrade(mode: VendorMode | undefined, what: string): boolean {
  const status = cudaStatus(mode === undefined ? {} : { mode });
  if (status.available) return true;
  if (status.mode === 'require' || status.reason === 'invalid-setting') throw unavailable(status);
  if (status.mode === 'auto' && !warned.has(what)) {
    warned.add(what);
    process.emitWarning(
      `${what} does nothing: CUDA is not available (${status.reason}: ${status.message}). ` +
        'Set DYNAMO_MEMORY_CUDA=off to silence this or =require to make it an error.',
      { code: 'DMEM_CUDA_UNAVAILABLE' },
    );
  }
  debug('cuda: %s skipped (%s)', what, status.reason);
  return false;
}
