import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../lib/errors.js';
import { renderReport, summarize } from '../../lib/security/render.js';
import type { CheckResult, Report } from '../../lib/security/report.js';
import { applySuppressions, parseSuppressions } from '../../lib/security/suppress.js';

function result(overrides: Partial<CheckResult>): CheckResult {
  return {
    id: 'RT-TEST-01',
    title: 'A test check',
    status: 'PASS',
    severity: 'medium',
    evidence: ['Line: 1'],
    why: 'because',
    ...overrides,
  };
}

function report(results: CheckResult[], errors: Report['errors'] = []): Report {
  return {
    schema: 'dynamo-memory/security-report',
    schemaVersion: 1,
    kind: 'preflight',
    profile: 'gds',
    generatedAt: '2026-12-03T00:00:00.000Z',
    toolVersion: '0.1.0',
    results,
    errors,
  };
}

const sample = report([
  result({ id: 'RT-USR-01', title: 'Runs as non-root', evidence: ['Uid: 1000 1000 1000 1000'] }),
  result({
    id: 'RT-CAP-01',
    title: 'Forbidden capabilities',
    status: 'FAIL',
    severity: 'critical',
    evidence: ['CapEff: 0000000000200000 (SYS_ADMIN)'],
    remedy: '--cap-drop SYS_ADMIN',
    subject: { resource: 'capabilities' },
    anchors: ['CIS-Docker:5.4'],
  }),
  result({
    id: 'RT-ENV-03',
    title: 'Secret in environment',
    status: 'WARN',
    evidence: ['HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123'],
  }),
  result({ id: 'RT-DEV-03', title: 'nvidia-fs devices', status: 'SKIP', evidence: [] }),
  result({
    id: 'ST-K8S-01',
    title: 'Manifest finding',
    status: 'INFO',
    location: { file: 'deploy/pod.yaml', line: 12, column: 5 },
    subject: { kind: 'Pod', namespace: 'ns', name: 'worker', container: 'main' },
  }),
]);

describe('renderReport()', () => {
  it('renders text with one line per result and details under findings', () => {
    const text = renderReport(sample, 'text');
    expect(text).toContain('FAIL  RT-CAP-01');
    expect(text).toContain('remedy: --cap-drop SYS_ADMIN');
    expect(text).toContain('5 checks: 1 fail, 1 warn, 1 info, 1 pass, 1 skip');
    expect(text).not.toContain('\u001b[');
    expect(renderReport(sample, 'text', { color: true })).toContain('\u001b[31m');
  });

  it('redacts secret-looking values in every format', () => {
    for (const format of ['text', 'json', 'sarif'] as const) {
      const out = renderReport(sample, format);
      expect(out).not.toContain('hf_abcdefghijklmnopqrstuvwxyz0123');
      expect(out).toMatch(/HF_TOKEN=<redacted: 33 chars, sha256 [0-9a-f]{8}>/);
    }
  });

  it('renders JSON with the versioned schema first and a summary', () => {
    const json = JSON.parse(renderReport(sample, 'json'));
    expect(Object.keys(json).slice(0, 2)).toEqual(['schema', 'schemaVersion']);
    expect(json.schemaVersion).toBe(1);
    expect(json.summary).toMatchObject({ total: 5, FAIL: 1, WARN: 1, PASS: 1, SKIP: 1, INFO: 1 });
    expect(json.results).toHaveLength(5);
  });

  it('renders SARIF 2.1.0 with one rule per id and only findings by default', () => {
    const doubled = report([...sample.results, result({ id: 'RT-CAP-01', status: 'WARN' })]);
    const run = JSON.parse(renderReport(doubled, 'sarif')).runs[0];
    expect(run.tool.driver.rules).toHaveLength(5);
    const levels = run.results.map((r: { level: string; kind: string }) => `${r.level}/${r.kind}`);
    expect(levels).toEqual(['error/fail', 'warning/fail', 'note/fail', 'warning/fail']);
  });

  it('renders SARIF 2.1.0 with every result when asked to include passes', () => {
    const doubled = report([...sample.results, result({ id: 'RT-CAP-01', status: 'WARN' })]);
    const sarif = JSON.parse(renderReport(doubled, 'sarif', { sarifIncludePass: true }));
    expect(sarif.version).toBe('2.1.0');
    const run = sarif.runs[0];
    expect(run.tool.driver.rules.map((rule: { id: string }) => rule.id)).toEqual([
      'RT-USR-01',
      'RT-CAP-01',
      'RT-ENV-03',
      'RT-DEV-03',
      'ST-K8S-01',
    ]);
    expect(run.results).toHaveLength(6);
    const levels = run.results.map((r: { level: string; kind: string }) => `${r.level}/${r.kind}`);
    expect(levels).toEqual([
      'none/pass',
      'error/fail',
      'warning/fail',
      'none/notApplicable',
      'note/fail',
      'warning/fail',
    ]);
    expect(run.results[5].ruleIndex).toBe(1);
  });

  it('gives physical locations from `location` and logical ones from `subject`', () => {
    const run = JSON.parse(renderReport(sample, 'sarif', { sarifIncludePass: true })).runs[0];
    const manifest = run.results[4].locations[0];
    expect(manifest.physicalLocation).toEqual({
      artifactLocation: { uri: 'deploy/pod.yaml', uriBaseId: '%SRCROOT%' },
      region: { startLine: 12, startColumn: 5 },
    });
    expect(manifest.logicalLocations[0].fullyQualifiedName).toBe('Pod/ns/worker');
    expect(manifest.logicalLocations[1].fullyQualifiedName).toBe('Pod/ns/worker/container:main');
    const runtime = run.results[1].locations[0];
    expect(runtime.physicalLocation).toBeUndefined();
    expect(runtime.logicalLocations).toEqual([
      { name: 'capabilities', fullyQualifiedName: 'capabilities', kind: 'resource' },
    ]);
    const absolute = report([result({ location: { file: '/a b/x.yaml', line: 1, column: 1 } })]);
    const uri = JSON.parse(renderReport(absolute, 'sarif', { sarifIncludePass: true })).runs[0]
      .results[0].locations[0].physicalLocation.artifactLocation.uri;
    expect(uri).toBe('file:///a%20b/x.yaml');
  });

  it('reports evaluation errors as failed execution', () => {
    const failed = report([], [{ code: 'EACCES', message: 'cannot read /proc/self/status' }]);
    const sarif = JSON.parse(renderReport(failed, 'sarif'));
    expect(sarif.runs[0].invocations[0].executionSuccessful).toBe(false);
    expect(renderReport(failed, 'text')).toContain('ERROR EACCES: cannot read /proc/self/status');
    expect(summarize(failed).errors).toBe(1);
  });

  it('throws InvalidArgumentError for an unknown format', () => {
    const call = () => renderReport(sample, 'xml' as 'text');
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(expect.objectContaining({ code: 'ERR_DMEM_INVALID_ARGUMENT' }));
  });
});

describe('applySuppressions()', () => {
  it('turns a suppressed FAIL into INFO and keeps the reason and the original status', () => {
    const out = applySuppressions(sample.results, new Map([['RT-CAP-01', 'lab machine']]));
    expect(out[1]).toMatchObject({
      status: 'INFO',
      suppressed: { reason: 'lab machine', originalStatus: 'FAIL' },
    });
    expect(sample.results[1]!.status).toBe('FAIL');
    const text = renderReport(report(out), 'text');
    expect(text).toContain('suppressed (was FAIL): lab machine');
    expect(text).toContain('(1 suppressed)');
    const sarif = JSON.parse(renderReport(report(out), 'sarif', { sarifIncludePass: true })).runs[0]
      .results[1];
    expect(sarif.level).toBe('error');
    expect(sarif.suppressions[0]).toMatchObject({ kind: 'external', justification: 'lab machine' });
  });

  it('leaves PASS, INFO and SKIP results alone', () => {
    const all = new Map(sample.results.map((r) => [r.id, 'accepted']));
    const out = applySuppressions(sample.results, all);
    expect(out.filter((r) => r.suppressed).map((r) => r.id)).toEqual(['RT-CAP-01', 'RT-ENV-03']);
  });

  it('throws ERR_DMEM_SUPPRESSION_REASON for a suppression without a reason', () => {
    const call = () => applySuppressions(sample.results, new Map([['RT-CAP-01', '  ']]));
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(expect.objectContaining({ code: 'ERR_DMEM_SUPPRESSION_REASON' }));
  });
});

describe('parseSuppressions()', () => {
  it('parses ID=REASON entries', () => {
    expect(parseSuppressions(['RT-CAP-03=needed for UCX CMA=yes'])).toEqual(
      new Map([['RT-CAP-03', 'needed for UCX CMA=yes']]),
    );
  });

  it('refuses an entry without a reason or with a bad id', () => {
    for (const [entry, code] of [
      ['RT-CAP-03', 'ERR_DMEM_SUPPRESSION_REASON'],
      ['RT-CAP-03=', 'ERR_DMEM_SUPPRESSION_REASON'],
      ['=why', 'ERR_DMEM_INVALID_ARGUMENT'],
    ] as const) {
      const call = () => parseSuppressions([entry]);
      expect(call).toThrow(InvalidArgumentError);
      expect(call).toThrow(expect.objectContaining({ code }));
    }
  });
});
