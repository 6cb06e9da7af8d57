/**
 * Finding and loading NIXL's C API library (`libnixl_capi.so`) at run time, and the status call
 * that says whether NIXL can be used here. Nothing links against NIXL at build time.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import { native } from '../binding.js';
import { debug } from '../debug.js';
import { readModeEnv, type VendorMode } from '../env.js';
import { callNative, NixlUnavailableError } from '../errors.js';

import './native.js';

/** Where NIXL installs itself when no prefix is given (NIXL's meson default). */
export const defaultNixlPrefix = '/opt/nvidia/nvda_nixl';

/** The library we load; it wraps libnixl.so in a C ABI and has shipped since NIXL 1.0. */
export const nixlLibraryName = 'libnixl_capi.so';

/**
 * What `nixlStatus()` reports:
 * - `usable`: loaded, an agent could be created, `plugins` lists what NIXL can load;
 * - `off`: the mode is `off`, nothing was loaded;
 * - `not-installed`: no `libnixl_capi.so` under the prefix or on the loader's path;
 * - `load-failed`: found, but the dynamic loader refused it (`reason`, often a missing
 *   dependency such as libnixl.so or libucp.so);
 * - `entry-point-missing`: found, but it lacks an entry point we call (`missingEntryPoint`):
 *   a NIXL older than 1.0 or another library under that name;
 * - `stub`: NIXL's build-time stub library, which aborts on use;
 * - `unusable`: loaded, but NIXL refused to create an agent, or the addon or the settings are
 *   broken (`reason`).
 */
export type NixlState =
  'usable' | 'off' | 'not-installed' | 'load-failed' | 'entry-point-missing' | 'stub' | 'unusable';

/** NIXL's availability, as `nixlStatus()` and `loadNixl()` report it. */
export interface NixlStatus {
  state: NixlState;
  /** True when `state` is `usable`. */
  usable: boolean;
  /** The mode in effect (option, else `DYNAMO_MEMORY_NIXL`, else `auto`). */
  mode: VendorMode;
  /** Why NIXL is not usable; absent when it is. */
  reason?: string;
  /** The library that was loaded or rejected. */
  library?: string;
  /** The first entry point the library lacks (state `entry-point-missing`). */
  missingEntryPoint?: string;
  /** The prefix searched (`NIXL_PREFIX`, default `/opt/nvidia/nvda_nixl`). */
  prefix: string;
  /** Every candidate tried, in order. */
  searched: string[];
  /** `NIXL_PLUGIN_DIR` as NIXL will read it; absent when NIXL uses its own default. */
  pluginDir?: string;
  /** The plugins NIXL can load (state `usable` only), e.g. `['POSIX', 'UCX']`. */
  plugins: string[];
}

/** Options of `nixlStatus()` and `loadNixl()`. */
export interface NixlLoadOptions {
  /**
   * `auto` loads NIXL when present, `require` throws when it cannot be used, `off` never loads
   * it. Defaults to `DYNAMO_MEMORY_NIXL`, else `auto`.
   */
  mode?: VendorMode;
}

/** @internal Seams for tests: the environment to read and whether to try the bare name. */
export interface LoaderSeams {
  env?: NodeJS.ProcessEnv;
  loaderPath?: boolean;
}

const multiarch: Record<string, string> = {
  x64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  ppc64: 'powerpc64le-linux-gnu',
};

/**
 * The paths tried, in order: the prefix's Debian libdir, `lib64` (RHEL), `lib`, then the bare
 * name through the dynamic loader's path (LD_LIBRARY_PATH, ld.so.cache).
 */
export function nixlCandidates(prefix: string, loaderPath = true): string[] {
  const dirs = [
    multiarch[process.arch] ? path.join(prefix, 'lib', multiarch[process.arch]!) : undefined,
    path.join(prefix, 'lib64'),
    path.join(prefix, 'lib'),
  ].filter((dir): dir is string => dir !== undefined);
  const candidates = dirs.map((dir) => path.join(dir, nixlLibraryName));
  if (loaderPath) candidates.push(nixlLibraryName);
  return candidates;
}

let usableStatus: NixlStatus | undefined;
let warned = false;
let probeAgents = 0;

/**
 * Says whether NIXL can be used here, loading it on first use (unless the mode is `off`). Never
 * throws: every failure is a state with a reason. Once NIXL loaded, the answer is cached for the
 * process (a loaded library stays loaded).
 *
 * Sets `NIXL_PLUGIN_DIR` to the `plugins` folder next to the loaded library when that variable
 * is unset and the folder exists, before NIXL reads it (NIXL reads it once per process).
 */
export function nixlStatus(options: NixlLoadOptions = {}, seams: LoaderSeams = {}): NixlStatus {
  const env = seams.env ?? process.env;
  const prefix = env.NIXL_PREFIX?.trim() || defaultNixlPrefix;
  const base = { prefix, searched: [] as string[], plugins: [] as string[] };

  let mode: VendorMode;
  try {
    mode = options.mode ?? readModeEnv('DYNAMO_MEMORY_NIXL', 'auto', env);
  } catch (error) {
    return { ...base, state: 'unusable', usable: false, mode: 'auto', reason: messageOf(error) };
  }
  if (mode === 'off') {
    return { ...base, state: 'off', usable: false, mode, reason: 'NIXL is turned off (mode off)' };
  }
  if (usableStatus) return { ...usableStatus, mode };

  let probe;
  try {
    probe = callNative(() => native().nixlProbe(nixlCandidates(prefix, seams.loaderPath ?? true)));
  } catch (error) {
    return { ...base, state: 'unusable', usable: false, mode, reason: messageOf(error) };
  }
  const found = {
    ...base,
    mode,
    searched: probe.searched,
    ...(probe.library ? { library: probe.library } : {}),
  };
  debug('nixl probe: %s %s', probe.state, probe.library || probe.searched.join(', '));
  if (probe.state !== 'loaded') {
    return {
      ...found,
      state: probe.state,
      usable: false,
      reason: probe.reason,
      ...(probe.missingSymbol ? { missingEntryPoint: probe.missingSymbol } : {}),
    };
  }

  setPluginDir(probe.library, env);
  const pluginDir = env.NIXL_PLUGIN_DIR || undefined;
  try {
    const plugins = listPlugins();
    usableStatus = {
      ...found,
      state: 'usable',
      usable: true,
      plugins,
      ...(pluginDir ? { pluginDir } : {}),
    };
    return usableStatus;
  } catch (error) {
    return {
      ...found,
      state: 'unusable',
      usable: false,
      reason: `NIXL loaded but could not create an agent: ${messageOf(error)}`,
      ...(pluginDir ? { pluginDir } : {}),
    };
  }
}

/**
 * Loads NIXL according to the mode and returns its status. In `auto` mode an unusable NIXL is
 * reported once with `process.emitWarning` (code `DMEM_NIXL_UNAVAILABLE`) and the status is
 * returned; in `off` mode nothing is loaded.
 *
 * @throws {NixlUnavailableError} in `require` mode when NIXL cannot be used; the code says why
 *   (see `unavailableError`).
 */
export function loadNixl(options: NixlLoadOptions = {}, seams: LoaderSeams = {}): NixlStatus {
  const status = nixlStatus(options, seams);
  if (status.usable || status.mode === 'off') return status;
  if (status.mode === 'require') throw unavailableError(status);
  if (!warned) {
    warned = true;
    process.emitWarning(
      `NIXL is not available (${status.state}): ${status.reason}. ` +
        'Set DYNAMO_MEMORY_NIXL=off to silence this, or NIXL_PREFIX to where NIXL is installed.',
      { code: 'DMEM_NIXL_UNAVAILABLE' },
    );
  }
  return status;
}

/**
 * The error for a status that is not usable: `ERR_DMEM_NIXL_OFF`, `ERR_DMEM_NIXL_NOT_INSTALLED`,
 * `ERR_DMEM_NIXL_LOAD_FAILED`, `ERR_DMEM_NIXL_ENTRY_POINT_MISSING` (with `entryPoint`),
 * `ERR_DMEM_NIXL_STUB` or `ERR_DMEM_NIXL_UNUSABLE`. It carries `state`, `reason` and `searched`.
 */
export function unavailableError(status: NixlStatus): NixlUnavailableError {
  const code = {
    off: 'ERR_DMEM_NIXL_OFF',
    'not-installed': 'ERR_DMEM_NIXL_NOT_INSTALLED',
    'load-failed': 'ERR_DMEM_NIXL_LOAD_FAILED',
    'entry-point-missing': 'ERR_DMEM_NIXL_ENTRY_POINT_MISSING',
    stub: 'ERR_DMEM_NIXL_STUB',
    unusable: 'ERR_DMEM_NIXL_UNUSABLE',
    usable: 'ERR_DMEM_NIXL_UNUSABLE',
  }[status.state];
  const where =
    status.state === 'not-installed'
      ? ` (searched ${status.searched.join(', ')}; set NIXL_PREFIX or LD_LIBRARY_PATH)`
      : '';
  const error = new NixlUnavailableError(code, `NIXL is not usable: ${status.reason}${where}`);
  return Object.assign(error, {
    state: status.state,
    reason: status.reason,
    searched: status.searched,
    ...(status.missingEntryPoint ? { entryPoint: status.missingEntryPoint } : {}),
  });
}

/**
 * @internal Returns a usable status or throws why not; agents call it before touching NIXL.
 * @throws {NixlUnavailableError} see `unavailableError`.
 */
export function requireNixl(mode?: VendorMode): NixlStatus {
  const status = nixlStatus(mode ? { mode } : {});
  if (!status.usable) throw unavailableError(status);
  return status;
}

/** The entry points of libnixl_capi.so that the addon resolves, in order. */
export function nixlEntryPoints(): string[] {
  return callNative(() => native().nixlEntryPoints());
}

function setPluginDir(library: string, env: NodeJS.ProcessEnv): void {
  if (env.NIXL_PLUGIN_DIR || !path.isAbsolute(library)) return;
  const dir = path.join(path.dirname(library), 'plugins');
  if (existsSync(dir)) env.NIXL_PLUGIN_DIR = dir;
}

// NIXL lists plugins through an agent only: make a short-lived one without threads.
function listPlugins(): string[] {
  const binding = native();
  const name = `dynamo-memory-probe-${process.pid}-${++probeAgents}`;
  const agent = callNative(() =>
    binding.nixlCreateAgent(name, {
      progressThread: false,
      listener: false,
      listenPort: 8888,
      threadSync: 0,
      progressDelayUs: 0,
      listenerDelayUs: 100000,
      telemetry: false,
    }),
  );
  try {
    return callNative(() => binding.nixlPlugins(agent));
  } finally {
    callNative(() => binding.nixlCloseAgent(agent));
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
