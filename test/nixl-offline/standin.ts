/**
 * Builds the STAND-IN of NIXL's C API (fixtures/standin-capi.cpp, not NIXL) with the system
 * compiler into a throwaway prefix laid out like an installed NIXL, so that the loader and the
 * agent code run in CI. Variants leave out an entry point or pose as NIXL's build-time stub.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const source = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/standin-capi.cpp');

/** The C++ compiler, or undefined when there is none (the stand-in tiers then skip). */
export const compiler = ['c++', 'g++', 'clang++'].find(
  (name) => spawnSync(name, ['--version']).status === 0,
);

export type Variant = 'complete' | 'missing-post' | 'stub';

// Builds each variant once per source version into a cache under the OS temp dir, so that test
// files share one compile. Nothing built here is committed.
function library(variant: Variant): string {
  const defines = {
    complete: [],
    'missing-post': ['-DSTANDIN_OMIT_POST'],
    stub: ['-DSTANDIN_STUB'],
  };
  const hash = createHash('sha256')
    .update(readFileSync(source))
    .update(variant)
    .digest('hex')
    .slice(0, 16);
  const target = path.join(tmpdir(), `dmem-nixl-standin-${hash}.so`);
  if (existsSync(target)) return target;
  // Build to a private name and rename, so parallel test files never load a half-written file.
  const partial = `${target}.${process.pid}.tmp`;
  execFileSync(compiler!, [
    '-std=c++17',
    '-shared',
    '-fPIC',
    '-O1',
    ...defines[variant],
    '-o',
    partial,
    source,
  ]);
  renameSync(partial, target);
  return target;
}

/**
 * Lays the stand-in out as `<prefix>/<libdir>/libnixl_capi.so` in a fresh prefix, with a
 * `plugins/` folder next to the library when asked. The caller removes it with `removePrefix`.
 */
export function buildPrefix(
  variant: Variant = 'complete',
  options: { libdir?: string; plugins?: boolean } = {},
): string {
  if (!compiler) throw new Error('no C++ compiler for the NIXL stand-in');
  const built = library(variant);
  const prefix = mkdtempSync(path.join(tmpdir(), 'dmem-nixl-standin-'));
  const libdir = path.join(prefix, options.libdir ?? 'lib64');
  mkdirSync(libdir, { recursive: true });
  if (options.plugins) mkdirSync(path.join(libdir, 'plugins'));
  copyFileSync(built, path.join(libdir, 'libnixl_capi.so'));
  return prefix;
}

export function removePrefix(prefix: string | undefined): void {
  if (prefix) rmSync(prefix, { recursive: true, force: true });
}
