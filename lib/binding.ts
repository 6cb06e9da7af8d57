/**
 * The one place that loads the native addon (node-gyp-build on the package root: a prebuild when
 * one matches this platform, else the source build in build/Release) and types its surface.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { AddonLoadError } from './errors.js';

const require = createRequire(import.meta.url);

/** The package root: the nearest folder above this file whose package.json is ours. */
export const packageRoot: string = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string };
      if (name === '@dynamo/memory') return dir;
    }
    if (path.dirname(dir) === dir) return path.resolve(start, '..');
  }
}

/** An opaque native handle (a napi External). */
export type NativeHandle = { readonly __nativeHandle: unique symbol };

/**
 * The typed surface of the addon. Each capability declares its own entry points next to the code
 * that calls them, by augmenting this interface (`declare module './binding.js'`), e.g. host
 * memory in host-buffer.ts; a section here is fine too.
 */
export interface NativeBinding {
  abiVersion: number;
  modules: string[];

  // --- host memory (cpp/binding/host_buffer.cpp) ---
  // --- O_DIRECT files and the I/O engine (cpp/binding/direct_file.cpp) ---
  fileOpen(options: NativeFileOpenOptions): NativeFileFacts;
  fileClose(handle: NativeHandle): void;
  fileSize(handle: NativeHandle): number;
  fileIo(
    handle: NativeHandle,
    kind: 'read' | 'write',
    segments: NativeIoSegment[],
    truncateTo?: number,
  ): Promise<number[]>;
  fileCommand(handle: NativeHandle, name: 'sync' | 'datasync'): Promise<void>;
  fileCommand(handle: NativeHandle, name: 'truncate', size: number): Promise<void>;
  fileCommand(
    handle: NativeHandle,
    name: 'reserve',
    offset: number,
    length: number,
  ): Promise<'fallocate' | 'ftruncate'>;
  ioConfigure(settings: { threads?: number; taskSize?: number; engine?: string }): void;
  ioSettings(): {
    threads: number;
    taskSize: number;
    engine: 'threads' | 'io_uring';
    engineFallback?: string;
  };
  // --- CUDA (cpp/binding/cuda.cpp): declared next to their callers, in lib/cuda/native.ts ---
  // --- NIXL (cpp/binding/nixl.cpp): declared next to their callers, in lib/nixl/native.ts ---
  // --- security preflight probes (cpp/binding/security.cpp) ---
  /** get_mempolicy, mbind, io_uring_setup, process_vm_readv with harmless arguments. */
  securityProbeSyscalls(): { name: string; allowed: boolean; errno: string }[];
}

/** O_DIRECT rules of a file as the addon reports them. */
export interface NativeAlignment {
  memory: number;
  offset: number;
  readOffset?: number;
  source: 'statx' | 'logical-block' | 'default';
}

/** Options of `fileOpen`, already validated and defaulted by lib/direct-file.ts. */
export interface NativeFileOpenOptions {
  path: string;
  read: boolean;
  write: boolean;
  create: boolean;
  truncate: boolean;
  exclusive: boolean;
  mode: number;
  direct: 'require' | 'prefer' | 'off';
  temporary: boolean;
  unlink: boolean;
}

/** What `fileOpen` learned about the file. */
export interface NativeFileFacts {
  handle: NativeHandle;
  path: string;
  fd: number;
  direct: boolean;
  fallbackReason?: string;
  alignment: NativeAlignment;
  filesystem: string;
  blockDevice: boolean;
}

/** One contiguous transfer of `fileIo`: a HostBuffer handle or a plain view, and a file range. */
export interface NativeIoSegment {
  buffer: NativeHandle | ArrayBufferView;
  bufferOffset: number;
  length: number;
  offset: number;
  /** The length may break the alignment rules; the last partial block is bounced. */
  tail: boolean;
  /** Prefix of argument names in alignment errors ("ops[2]"). */
  name?: string;
  /** An ArrayBuffer to keep alive while the transfer runs. */
  keep?: ArrayBuffer;
}

let loaded: NativeBinding | undefined;

/**
 * Returns the addon, loading it on first use.
 *
 * @throws {AddonLoadError} `ERR_DMEM_ADDON_LOAD` listing the likely fixes.
 */
export function native(): NativeBinding {
  if (loaded) return loaded;
  try {
    const load = require('node-gyp-build') as (root: string) => NativeBinding;
    loaded = load(packageRoot);
    return loaded;
  } catch (failure) {
    const reason = failure instanceof Error ? failure.message : String(failure);
    throw new AddonLoadError(
      'ERR_DMEM_ADDON_LOAD',
      [
        `Could not load the @dynamo/memory native addon for ${process.platform}-${process.arch} ` +
          `(Node ${process.version}, N-API ${process.versions.napi}): ${reason}`,
        'Likely fixes:',
        `  - no prebuild for this platform: only linux-x64 ships one; build from source with ` +
          `"npm rebuild @dynamo/memory" (needs python3, make and a C++20 compiler)`,
        '  - installed with --ignore-scripts and no prebuild matched: run "npm rebuild @dynamo/memory"',
        '  - a source build failed: rerun it with "npx node-gyp rebuild --verbose" in ' +
          packageRoot,
      ].join('\n'),
      { cause: failure },
    );
  }
}
