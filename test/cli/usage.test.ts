import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { runCli, scratchDir } from '../support/cli.js';

const scratch = scratchDir('cli-usage');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('dynamo-memory usage errors', () => {
  it.each<[string[], string, string]>([
    [['load'], 'load', "missing required argument 'FILE'"],
    [['load', '/etc/passwd', '--bogus'], 'load', "unknown option '--bogus'"],
    [['bogus'], 'cli', "unknown command 'bogus'"],
    [['preflight', '--profile', 'bogus'], 'preflight', "argument 'bogus' is invalid"],
    [['lint', '--format', 'yaml', '-'], 'lint', "argument 'yaml' is invalid"],
  ])('reports %j in one coded line, and as JSON with --json', (args, command, message) => {
    const plain = runCli(args);
    expect(plain.status).toBe(3);
    expect(plain.stdout).toBe('');
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    expect(plain.stderr).toMatch(/: ERR_DMEM_USAGE: .* \(see dynamo-memory( \w+)? --help\)\n$/);
    expect(plain.stderr).toContain(message);

    const json = runCli([...args, '--json']);
    expect(json.status).toBe(3);
    expect(json.json).toMatchObject({
      schema: `dynamo-memory/${command}`,
      version: 1,
      ok: false,
      error: { code: 'ERR_DMEM_USAGE', message: expect.stringContaining(message), exitCode: 3 },
    });
  });
});

describe('dynamo-memory info', () => {
  it('reports the page size, limits, the directory, CUDA and NIXL as JSON', () => {
    const result = runCli(['info', '--dir', scratch, '--json']);
    expect(result.status).toBe(0);
    expect(result.json).toMatchObject({
      schema: 'dynamo-memory/info',
      version: 1,
      ok: true,
      pageSize: 4096,
      directory: { path: scratch, direct: true, alignment: { memory: expect.any(Number) } },
      cuda: { status: { available: expect.any(Boolean), reason: expect.any(String) } },
      nixl: { state: expect.any(String), usable: expect.any(Boolean) },
    });
  });

  it('probes tmpfs too', () => {
    expect(runCli(['info', '--dir', '/dev/shm', '--json']).json).toMatchObject({
      directory: { filesystem: 'tmpfs' },
    });
  });

  it.each([['/nonexistent/dir'], ['/etc/passwd']])('refuses --dir %s as a usage error', (dir) => {
    const result = runCli(['info', '--dir', dir]);
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/^dynamo-memory info: ERR_DMEM_NO_DIRECTORY: /);
  });
});

describe('dynamo-memory bench arguments', () => {
  it.each<[string[], string]>([
    [['--size', '16MiB'], 'ERR_DMEM_INVALID_SIZE'],
    [['--size', '65MiB'], 'ERR_DMEM_INVALID_SIZE'],
    [['--seconds', '0'], 'ERR_DMEM_INVALID_ARGUMENT'],
    [['--cases', 'read,scan'], 'ERR_DMEM_INVALID_ARGUMENT'],
    [['--dir', '/nonexistent/dir'], 'ERR_DMEM_NO_DIRECTORY'],
  ])('refuses %j before writing anything', (args, code) => {
    const result = runCli(['bench', '--dir', scratch, ...args]);
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(new RegExp(`^dynamo-memory bench: ${code}: `));
  });
});

describe('dynamo-memory load of pseudo-files', () => {
  it('refuses a file that reports size 0 but has content, instead of loading 0 bytes', () => {
    const result = runCli(['load', '/proc/self/status', '--verify', 'sha256']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^dynamo-memory load: ERR_DMEM_UNSIZED_FILE: /);
  });

  it('still loads a truly empty file', () => {
    const empty = path.join(scratch, 'empty');
    writeFileSync(empty, '');
    expect(runCli(['load', empty, '--verify', 'SHA256', '--json']).json).toMatchObject({
      ok: true,
      bytes: 0,
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    });
  });
});

describe('dynamo-memory preflight and lint output options', () => {
  it.each([['preflight'], ['lint']])('%s refuses --json with another --format', (command) => {
    const args = command === 'lint' ? ['lint', '-'] : ['preflight'];
    const result = runCli([...args, '--json', '--format', 'text']);
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/ERR_DMEM_INVALID_ARGUMENT: --json asks for JSON but --format/);
  });

  it('warns when an --ignore id matches no check, and still runs', () => {
    const result = runCli(['preflight', '--ignore', 'NOPE-01=typo', '--json']);
    expect(result.stderr).toContain('warning: --ignore NOPE-01 matched no check in this run');
    expect(result.json).toMatchObject({
      schema: 'dynamo-memory/security-report',
      kind: 'preflight',
    });
  });
});
