/** Helpers shared by the direct-file tests: disk-backed scratch folders and hashing. */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import path from 'node:path';

import { onTestFinished } from 'vitest';

import { repoRoot } from '../support/child.js';

const tmpfsMagic = 0x01021994;

/**
 * A fresh folder on a disk-backed filesystem (under test/.tmp in the repository, since /tmp may
 * be tmpfs in CI and tmpfs hides O_DIRECT mistakes), removed when the test ends.
 */
export function scratchDir(): string {
  const base = process.env['DYNAMO_MEMORY_TEST_DIR'] ?? path.join(repoRoot, 'test', '.tmp');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'direct-file-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** True when `dir` is on tmpfs. */
export function onTmpfs(dir: string): boolean {
  return statfsSync(dir).type === tmpfsMagic;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Open descriptors of this process. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
