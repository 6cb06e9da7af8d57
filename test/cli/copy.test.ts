import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { hasCommand, isRoot } from '../support/child.js';
import { runCli, scratchDir, startCli } from '../support/cli.js';

const scratch = scratchDir('cli-copy');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function identical(a: string, b: string): boolean {
  return spawnSync('cmp', ['-s', a, b]).status === 0;
}

function generated(name: string, size: number, mode = 0o640): string {
  const file = path.join(scratch, name);
  writeFileSync(file, randomBytes(size));
  chmodSync(file, mode);
  return file;
}

describe('dynamo-memory copy', () => {
  it.each([0, 1, 4095, 4096, 4097, (4 << 20) + 1, 9 << 20])(
    'copies a file of %i bytes byte-identically, keeping size and mode',
    (size) => {
      const source = generated(`src-${size}`, size, 0o604);
      const destination = path.join(scratch, `dst-${size}`);
      const result = runCli([
        'copy',
        source,
        destination,
        '--json',
        '--block-size',
        '1MiB',
        '--depth',
        '3',
      ]);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(identical(source, destination)).toBe(true);
      expect(statSync(destination).size).toBe(size);
      expect(statSync(destination).mode & 0o7777).toBe(0o604);
      expect(result.json).toMatchObject({
        schema: 'dynamo-memory/copy',
        version: 1,
        ok: true,
        bytes: size,
        directRead: true,
        directWrite: true,
      });
    },
  );

  it('copies real files nobody here wrote, identical by cmp', () => {
    const sources = [
      process.execPath,
      ...execFileSync('sh', ['-c', 'ls /usr/lib/x86_64-linux-gnu/*.so* | head -3'], {
        encoding: 'utf8',
      })
        .trim()
        .split('\n'),
    ];
    for (const source of sources) {
      const destination = path.join(scratch, `real-${path.basename(source)}`);
      const result = runCli(['copy', source, destination]);
      expect(result.status).toBe(0);
      expect(identical(source, destination)).toBe(true);
      rmSync(destination);
    }
  });

  it('copies a 1 GiB file identically while holding at most depth x block size of buffers', () => {
    const source = path.join(scratch, 'large.bin');
    execFileSync('sh', ['-c', `head -c ${(1 << 30) + 4097} /dev/urandom > ${source}`]);
    const destination = path.join(scratch, 'large.copy');
    const result = runCli([
      'copy',
      source,
      destination,
      '--json',
      '--block-size',
      '8MiB',
      '--depth',
      '4',
    ]);
    expect(result.status).toBe(0);
    expect(result.json).toMatchObject({
      bytes: (1 << 30) + 4097,
      depth: 4,
      blockSize: 8 << 20,
      pipelineBytes: 32 << 20,
    });
    expect(identical(source, destination)).toBe(true);
    rmSync(destination);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'leaves nothing under DST when interrupted by %s',
    async (signal) => {
      const source = path.join(scratch, 'large.bin');
      if (!existsSync(source))
        execFileSync('sh', ['-c', `head -c ${1 << 30} /dev/urandom > ${source}`]);
      const folder = path.join(scratch, `interrupted-${signal}`);
      mkdirSync(folder);
      const destination = path.join(folder, 'dst.bin');
      // Small blocks, one at a time: the copy takes seconds, so the signal lands mid-way.
      const child = startCli(['copy', source, destination, '--block-size', '4096', '--depth', '1']);
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += String(chunk)));
      // Signal once the temporary file exists, i.e. once the copy is really under way.
      const deadline = Date.now() + 60_000;
      while (readdirSync(folder).length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(readdirSync(folder)[0]).toMatch(/^\.dmem-[0-9a-f]+\.tmp$/);
      child.kill(signal);
      const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(status).toBe(1);
      expect(stderr).toMatch(/ERR_DMEM_INTERRUPTED/);
      expect(readdirSync(folder)).toEqual([]);
    },
  );

  it.each<[string, (s: string) => string[], number, string]>([
    ['DST equal to SRC', (s) => ['copy', s, s], 3, 'ERR_DMEM_SAME_FILE'],
    [
      'DST equal to SRC by another path',
      (s) => ['copy', s, path.join(scratch, '.', path.basename(s))],
      3,
      'ERR_DMEM_SAME_FILE',
    ],
    [
      'a directory as SRC',
      () => ['copy', scratch, path.join(scratch, 'x')],
      3,
      'ERR_DMEM_NOT_A_FILE',
    ],
    ['a directory as DST', (s) => ['copy', s, scratch], 3, 'ERR_DMEM_NOT_A_FILE'],
    [
      'a missing SRC',
      () => ['copy', path.join(scratch, 'missing'), path.join(scratch, 'x')],
      1,
      'ENOENT',
    ],
    [
      'a DST in a missing folder',
      (s) => ['copy', s, path.join(scratch, 'no/such/x')],
      3,
      'ERR_DMEM_NO_DIRECTORY',
    ],
    [
      'a bad --block-size',
      (s) => ['copy', s, path.join(scratch, 'x'), '--block-size', '4X'],
      3,
      'ERR_DMEM_INVALID_SIZE',
    ],
    [
      'an unaligned --block-size',
      (s) => ['copy', s, path.join(scratch, 'x'), '--block-size', '5000'],
      3,
      'ERR_DMEM_INVALID_SIZE',
    ],
    [
      'a zero --depth',
      (s) => ['copy', s, path.join(scratch, 'x'), '--depth', '0'],
      3,
      'ERR_DMEM_INVALID_ARGUMENT',
    ],
    [
      'a bad --direct',
      (s) => ['copy', s, path.join(scratch, 'x'), '--direct', 'yes'],
      3,
      'ERR_DMEM_INVALID_ARGUMENT',
    ],
  ])('refuses %s with a coded line and writes nothing', (_label, args, status, code) => {
    const source = generated('bad-input-src', 10_000);
    const before = readdirSync(scratch).sort();
    const result = runCli(args(source));
    expect(result.status).toBe(status);
    expect(result.stderr).toMatch(new RegExp(`^dynamo-memory copy: ${code}: `));
    expect(readdirSync(scratch).sort()).toEqual(before);
  });

  it.skipIf(!isRoot || !hasCommand('setpriv'))(
    'refuses an unwritable destination folder and leaves it empty (needs root to drop to nobody)',
    () => {
      const source = generated('readable-src', 10_000, 0o644);
      const folder = path.join(scratch, 'locked');
      mkdirSync(folder, { mode: 0o755 });
      chmodSync(scratch, 0o755);
      const result = runCli(['copy', source, path.join(folder, 'x')], {
        prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^dynamo-memory copy: EACCES: /);
      expect(readdirSync(folder)).toEqual([]);
    },
  );
});
