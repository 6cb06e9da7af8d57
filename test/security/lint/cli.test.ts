import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { main } from '../../../lib/cli/main.js';

import { fixture } from './helpers.js';

async function run(args: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => (out += chunk));
  stderr.on('data', (chunk) => (err += chunk));
  const code = await main(['lint', ...args], { stdout, stderr, env: { NO_COLOR: '1' } });
  return { code, out, err };
}

describe('dynamo-memory lint', () => {
  it('exits 0 when nothing fails and prints text by default', async () => {
    const { code, out } = await run([fixture('manifests/pss-levels.yaml'), '--profile', 'base']);
    expect(code).toBe(0);
    expect(out).toMatch(/^dynamo-memory lint · profile base/);
    expect(out).toMatch(/INFO\s+ST-PSS-01/);
  });

  it('exits 1 on a failing check, and on a warning with --fail-on warn', async () => {
    expect((await run([fixture('manifests/pod.json')])).code).toBe(1);
    const warnOnly = fixture('manifests/pss-levels.yaml');
    expect((await run([warnOnly, '--fail-on', 'warn'])).code).toBe(1);
  });

  it('exits 2 for an unparsable file or no workload, 0 for none with --allow-empty', async () => {
    expect((await run([fixture('manifests/malformed.yaml')])).code).toBe(2);
    expect((await run([fixture('manifests/empty.yaml')])).code).toBe(2);
    expect((await run([fixture('manifests/empty.yaml'), '--allow-empty'])).code).toBe(0);
  });

  it('exits 3 for usage errors: bad profile, bad size, suppression without reason', async () => {
    const file = fixture('manifests/pod.json');
    expect((await run([file, '--profile', 'gpus'])).code).toBe(3);
    const size = await run([file, '--pinned', 'lots']);
    expect(size.code).toBe(3);
    expect(size.err).toMatch(/ERR_DMEM_INVALID_ARGUMENT.*--pinned/);
    const ignore = await run([file, '--ignore', 'ST-PRIV-01']);
    expect(ignore.code).toBe(3);
    expect(ignore.err).toMatch(/ERR_DMEM_SUPPRESSION_REASON/);
    expect((await run([])).code).toBe(3);
  });

  it('accepts a finding with --ignore ID=REASON', async () => {
    const { code, out } = await run([
      fixture('manifests/pod.json'),
      '--ignore',
      'ST-PRIV-01=throwaway lab pod',
    ]);
    expect(code).toBe(0);
    expect(out).toMatch(/throwaway lab pod/);
  });

  it('writes the same result set as JSON and as SARIF with file, line and column', async () => {
    const args = [fixture('docker/risky.sh'), '--profile', 'gds', '--pinned', '8GiB'];
    const json = JSON.parse((await run([...args, '--format', 'json'])).out);
    const sarif = JSON.parse((await run([...args, '--format', 'sarif'])).out);
    expect(json).toMatchObject({ schema: 'dynamo-memory/security-report', kind: 'lint' });
    const results = sarif.runs[0].results;
    const findings = json.results.filter(
      (r: { status: string }) => !['PASS', 'SKIP'].includes(r.status),
    );
    expect(results).toHaveLength(findings.length);
    const privileged = results.find((r: { ruleId: string }) => r.ruleId === 'ST-PRIV-01');
    expect(privileged.level).toBe('error');
    expect(privileged.locations[0].physicalLocation.region).toEqual({
      startLine: 3,
      startColumn: 20,
    });
  });

  it('takes --json as --format json', async () => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (chunk) => (out += chunk));
    const code = await main(['--json', 'lint', fixture('manifests/pod.json')], {
      stdout,
      stderr: new PassThrough(),
      env: {},
    });
    expect(code).toBe(1);
    expect(JSON.parse(out).kind).toBe('lint');
  });
});

const bin = path.resolve(fixture('.'), '../../bin/dynamo-memory.js');
const built = path.resolve(fixture('.'), '../../dist/lib/security/lint.js');

describe.skipIf(!existsSync(built))('dynamo-memory lint - (needs the compiled dist/)', () => {
  it('reads standard input', () => {
    const child = spawnSync(process.execPath, [bin, 'lint', '-', '--format', 'json'], {
      input: readFileSync(fixture('docker/oneliner.txt')),
      encoding: 'utf8',
    });
    expect(child.status).toBe(0);
    const report = JSON.parse(child.stdout);
    expect(report.results[0].location.file).toBe('<stdin>');
  });
});
