import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { hasCommand, repoRoot } from '../support/child.js';
import { scratchDir } from './support.js';

// The core (cpp/core) has no Node in it: it must build and work as a plain C++ program.
describe.skipIf(!hasCommand('c++'))('direct file core without Node (needs a C++ compiler)', () => {
  it('splits, pads, truncates, stops at end of file and reports failures with the path, on both engines', () => {
    const dir = scratchDir();
    const binary = path.join(dir, 'core-test');
    const core = ['direct_file', 'io_job', 'io_pool', 'io_uring', 'error'].map((name) =>
      path.join(repoRoot, 'cpp', 'core', `${name}.cpp`),
    );
    execFileSync('c++', [
      '-std=c++20',
      '-O1',
      '-pthread',
      `-I${path.join(repoRoot, 'cpp')}`,
      '-o',
      binary,
      path.join(repoRoot, 'test', 'direct-file', 'core-test.cpp'),
      ...core,
      '-ldl',
    ]);
    expect(execFileSync(binary, [dir]).toString().trim()).toMatch(/^ok/);
  });
});
