/**
 * Builds the CUDA stand-in driver and the fork helper with the system C compiler, once per
 * source version, into a cache folder under the OS temp dir. Nothing built here is committed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function build(source: string, output: string, extraArgs: string[]): string {
  const text = readFileSync(path.join(here, source));
  const hash = createHash('sha256').update(text).update(extraArgs.join(' ')).digest('hex');
  const dir = path.join(os.tmpdir(), `dmem-cuda-stand-in-${hash.slice(0, 16)}`);
  const target = path.join(dir, output);
  if (existsSync(target)) return target;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // Build to a private name and rename, so parallel test files never load a half-written file.
  const partial = `${target}.${process.pid}.tmp`;
  execFileSync(
    process.env.CC ?? 'cc',
    [
      '-shared',
      '-fPIC',
      '-O1',
      '-o',
      partial,
      path.join(here, source),
      ...extraArgs,
      '-ldl',
      '-lpthread',
    ],
    { stdio: 'pipe' },
  );
  renameSync(partial, target);
  return target;
}

/** Path of the stand-in driver library, built on first use. */
export function standInLibrary(): string {
  return build('cuda-stand-in.c', 'libcuda-stand-in.so', []);
}

function nodeIncludeDir(): string {
  const candidates = [
    path.resolve(path.dirname(process.execPath), '../include/node'),
    path.join(os.homedir(), '.cache/node-gyp', process.versions.node, 'include/node'),
    '/usr/include/node',
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'node_api.h')));
  if (!found) throw new Error(`node_api.h not found in ${candidates.join(', ')}`);
  return found;
}

/**
 * Path of the core fork check (test/cuda/native/fork_after_init.cpp), built with the package's
 * CUDA core sources on first use.
 */
export function forkCheck(): string {
  const root = path.resolve(here, '../../..');
  const core = [
    'cpp/core/error.cpp',
    'cpp/core/cuda_runtime.cpp',
    'cpp/core/cuda_memory.cpp',
    'cpp/core/shim/cuda.cpp',
  ];
  const sources = ['test/cuda/native/fork_after_init.cpp', ...core].map((file) =>
    path.join(root, file),
  );
  const hash = createHash('sha256');
  for (const file of sources) hash.update(readFileSync(file));
  for (const file of [
    'cpp/core/error.hpp',
    'cpp/core/cuda_runtime.hpp',
    'cpp/core/cuda_memory.hpp',
    'cpp/core/shim/cuda.hpp',
  ]) {
    hash.update(readFileSync(path.join(root, file)));
  }
  const dir = path.join(os.tmpdir(), `dmem-cuda-fork-check-${hash.digest('hex').slice(0, 16)}`);
  const target = path.join(dir, 'fork_after_init');
  if (existsSync(target)) return target;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const partial = `${target}.${process.pid}.tmp`;
  execFileSync(
    process.env.CXX ?? 'c++',
    [
      '-std=c++20',
      '-O1',
      `-I${path.join(root, 'cpp')}`,
      '-o',
      partial,
      ...sources,
      '-ldl',
      '-lpthread',
    ],
    { stdio: 'pipe' },
  );
  renameSync(partial, target);
  return target;
}

/** Path of the fork helper addon, built on first use. */
export function forkHelper(): string {
  return build('fork-helper.c', 'fork-helper.node', [`-I${nodeIncludeDir()}`]);
}
