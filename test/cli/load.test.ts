import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { runCli, scratchDir } from '../support/cli.js';

const scratch = scratchDir('cli-load');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sha256sum(file: string): string {
  return execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]!;
}

/** Real files nobody here wrote: the node binary and some libraries and data files. */
function realFiles(): string[] {
  const found = execFileSync(
    'sh',
    ['-c', 'find /usr/lib /usr/share -xdev -type f -size +1k -readable 2>/dev/null | head -4000'],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n');
  // Spread over sizes: the smallest, the largest and some in between.
  const bySize = found
    .map((file) => ({ file, size: statSync(file).size }))
    .sort((a, b) => a.size - b.size);
  const picks = [0, 0.25, 0.5, 0.75, 0.9, 1].map(
    (q) => bySize[Math.min(bySize.length - 1, Math.floor(q * (bySize.length - 1)))]!.file,
  );
  return [process.execPath, ...new Set(picks)];
}

describe('dynamo-memory load', () => {
  it.each(realFiles())('loads %s with O_DIRECT and reports the digest sha256sum gives', (file) => {
    const result = runCli(['load', file, '--verify', 'sha256', '--json']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.json).toMatchObject({
      schema: 'dynamo-memory/load',
      version: 1,
      ok: true,
      file,
      bytes: statSync(file).size,
      direct: true,
      sha256: sha256sum(file),
      verify: { algorithm: 'sha256', reference: 'buffered-read', match: true },
    });
    expect(result.json!.seconds).toBeGreaterThan(0);
    expect(result.json!.gbPerSecond).toBeGreaterThan(0);
  });

  it.each([0, 1, 4095, 4096, 4097, 1 << 20, (1 << 20) + 513])(
    'loads a generated file of %i bytes exactly',
    (size) => {
      const file = path.join(scratch, `gen-${size}.bin`);
      writeFileSync(file, randomBytes(size));
      const result = runCli(['load', file, '--verify', 'sha256', '--json']);
      expect(result.status).toBe(0);
      expect(result.json).toMatchObject({
        bytes: size,
        sha256: sha256sum(file),
        verify: { match: true },
      });
    },
  );

  it('loads a file of more than 1 GiB across host buffers, verified by sha256sum', () => {
    const file = path.join(scratch, 'large.bin');
    // 1 GiB + 12345 bytes: more than one segment and an unaligned tail.
    execFileSync('sh', ['-c', `head -c ${(1 << 30) + 12345} /dev/urandom > ${file}`]);
    const result = runCli(['load', file, '--verify', 'sha256', '--json']);
    expect(result.status).toBe(0);
    expect(result.json).toMatchObject({
      bytes: (1 << 30) + 12345,
      direct: true,
      sha256: sha256sum(file),
    });
    rmSync(file);
  });

  it('prints bytes, seconds, GB/s and whether O_DIRECT was used in text mode', () => {
    const result = runCli(['load', process.execPath, '--verify', 'sha256']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(
        `^${process.execPath}: ${statSync(process.execPath).size} bytes .* in \\d+\\.\\d+ s, \\d+\\.\\d+ GB/s, O_DIRECT \\(`,
      ),
    );
    expect(result.stdout).toMatch(/sha256 [0-9a-f]{64} matches a buffered read/);
  });

  it('falls back to buffered reads with --direct off and says so', () => {
    const result = runCli(['load', process.execPath, '--direct', 'off', '--json']);
    expect(result.json).toMatchObject({ ok: true, direct: false });
  });

  it.each<[string, string[], number, string]>([
    ['a missing file', ['load', '/nonexistent/file'], 1, 'ENOENT'],
    ['a directory', ['load', '/usr'], 3, 'ERR_DMEM_NOT_A_FILE'],
    [
      'an unknown --verify',
      ['load', process.execPath, '--verify', 'md5'],
      3,
      'ERR_DMEM_INVALID_ARGUMENT',
    ],
    [
      'a bad --direct',
      ['load', process.execPath, '--direct', 'always'],
      3,
      'ERR_DMEM_INVALID_ARGUMENT',
    ],
  ])('fails on %s with one coded line', (_label, args, status, code) => {
    const result = runCli(args);
    expect(result.status).toBe(status);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(new RegExp(`^dynamo-memory load: ${code}: `));
    const json = runCli([...args, '--json']);
    expect(json.json).toMatchObject({ ok: false, error: { code, exitCode: status } });
  });

  it('prints the stack with --debug', () => {
    const result = runCli(['load', '/nonexistent/file', '--debug']);
    expect(result.stderr).toMatch(/ENOENT/);
    expect(result.stderr).toMatch(/\n\s+at /);
  });

  it('treats a missing argument and an unknown option as usage errors', () => {
    expect(runCli(['load']).status).toBe(3);
    expect(runCli(['load', process.execPath, '--frobnicate']).status).toBe(3);
    expect(readdirSync(scratch).every((name) => !name.startsWith('.dmem-'))).toBe(true);
  });
});

describe('dynamo-memory --help', () => {
  it.each([[[]], [['load']], [['copy']], [['info']]])(
    'prints help for %j and exits 0',
    (command) => {
      const result = runCli([...command, '--help']);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/Usage: dynamo-memory/);
      expect(result.stdout).toMatch(/--json/);
    },
  );

  it('prints the version', () => {
    expect(runCli(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('dynamo-memory load --to cuda:N (driver stand-in)', () => {
  it('loads into device memory through pinned staging and verifies by copying back', async () => {
    const { standInLibrary } = await import('../support/cuda-stand-in/build.js');
    const file = path.join(scratch, 'to-device.bin');
    writeFileSync(file, randomBytes((3 << 20) + 4097));
    const result = runCli(['load', file, '--to', 'cuda:0', '--verify', 'sha256', '--json'], {
      env: { DYNAMO_MEMORY_CUDA_STAND_IN: standInLibrary() },
    });
    expect(result.stderr).toBe('');
    expect(result.json).toMatchObject({
      ok: true,
      target: 'cuda:0',
      pinnedStaging: true,
      bytes: (3 << 20) + 4097,
      direct: true,
      sha256: sha256sum(file),
      verify: { match: true },
    });
  });

  it.skipIf(existsSync('/dev/nvidiactl'))(
    'says CUDA is not ready (exit 2) where no driver can be loaded',
    () => {
      const result = runCli(['load', process.execPath, '--to', 'cuda:0'], {
        env: { LD_LIBRARY_PATH: '/nonexistent', DYNAMO_MEMORY_CUDA_STAND_IN: '' },
      });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/^dynamo-memory load: ERR_DMEM_CUDA_UNAVAILABLE: /);
    },
  );

  it('refuses a malformed --to as a usage error', () => {
    const result = runCli(['load', process.execPath, '--to', 'gpu0']);
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/ERR_DMEM_INVALID_ARGUMENT: Expected --to to be host or cuda:N/);
  });
});
