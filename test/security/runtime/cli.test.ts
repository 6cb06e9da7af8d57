import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { main } from '../../../lib/cli/main.js';

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => (out += chunk));
  stderr.on('data', (chunk) => (err += chunk));
  const code = await main(['preflight', ...args], { stdout, stderr, env });
  return { code, out, err };
}

describe('dynamo-memory preflight', () => {
  it('prints the JSON report with --json and exits with the report exit code', async () => {
    const { code, out } = await cli(['--json', '--profile', 'base', '--pinned', '1MiB']);
    const report = JSON.parse(out);
    expect(report).toMatchObject({
      schema: 'dynamo-memory/security-report',
      schemaVersion: 1,
      profile: 'base',
    });
    const failing = report.results.some((r: { status: string }) => r.status === 'FAIL');
    expect(code).toBe(failing ? 1 : 0);
    expect(
      report.results.find((r: { id: string }) => r.id === 'RT-CAP-02').evidence.join(),
    ).toMatch(/1 MiB/);
  });

  it('renders SARIF 2.1.0 with --format sarif, from the same result set as JSON', async () => {
    const sarif = JSON.parse((await cli(['--format', 'sarif'])).out);
    const json = JSON.parse((await cli(['--format', 'json'])).out);
    expect(sarif.version).toBe('2.1.0');
    const findings = json.results.filter(
      (r: { status: string }) => !['PASS', 'SKIP'].includes(r.status),
    );
    expect(sarif.runs[0].results.length).toBe(findings.length);
  });

  it('exits 1 on a warning with --fail-on warn when one is present', async () => {
    const { code, out } = await cli(['--json', '--fail-on', 'warn']);
    const statuses = JSON.parse(out).results.map((r: { status: string }) => r.status);
    expect(code).toBe(statuses.includes('WARN') || statuses.includes('FAIL') ? 1 : 0);
  });

  it('shows a suppressed finding with its reason, and it no longer fails the run', async () => {
    const env = { LD_PRELOAD: '/opt/profiler.so' };
    const plain = JSON.parse((await cli(['--json'], env)).out);
    expect(plain.results.find((r: { id: string }) => r.id === 'RT-ENV-01').status).toBe('FAIL');
    const { out } = await cli(['--ignore', 'RT-ENV-01=profiler approved by security'], env);
    expect(out).toMatch(/^dynamo-memory preflight · profile base/);
    expect(out).toMatch(/INFO {2}RT-ENV-01/);
    expect(out).toContain('suppressed (was FAIL): profiler approved by security');
    expect(out).toContain('evidence: LD_PRELOAD=/opt/profiler.so');
  });

  it('exits 3 on usage errors: no reason, bad size, unknown profile or format', async () => {
    for (const args of [
      ['--ignore', 'RT-CAP-01'],
      ['--pinned', 'lots'],
      ['--profile', 'cloud'],
      ['--format', 'xml'],
    ]) {
      const { code, err } = await cli(args);
      expect(code, args.join(' ')).toBe(3);
      expect(err.length).toBeGreaterThan(0);
    }
    expect((await cli(['--ignore', 'RT-CAP-01'])).err).toMatch(/ERR_DMEM_SUPPRESSION_REASON/);
  });
});
