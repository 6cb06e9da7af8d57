import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { SecurityCheckError } from '../../lib/errors.js';
import { appendAuditLog, inspectAuditSink } from '../../lib/security/audit-log.js';
import { preflight } from '../../lib/security/preflight.js';
import type { Report } from '../../lib/security/report.js';
import { buildTree, type Tree } from './runtime/fixture-tree.js';

let dir: string;
let tree: Tree;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmem-audit-'));
  fs.chmodSync(dir, 0o700);
  tree = buildTree();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  tree.cleanup();
});

const sample: Report = {
  schema: 'dynamo-memory/security-report',
  schemaVersion: 1,
  kind: 'preflight',
  profile: 'base',
  generatedAt: '2026-12-03T00:00:00.000Z',
  toolVersion: '0.1.0',
  results: [
    {
      id: 'RT-ENV-03',
      title: 'No secrets in the environment',
      status: 'WARN',
      severity: 'medium',
      evidence: ['API_KEY=sk-live-abcdef0123456789'],
      why: 'leaks',
    },
  ],
  errors: [],
};

describe('appendAuditLog()', () => {
  it('appends a run-start, one record per result and a run-end, secrets redacted', () => {
    const file = path.join(dir, 'audit.jsonl');
    appendAuditLog(file, sample, 1);
    appendAuditLog(file, sample, 1);
    const records = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records.map((r) => r.type)).toEqual([
      'run-start',
      'result',
      'run-end',
      'run-start',
      'result',
      'run-end',
    ]);
    expect(records[0].runId).toBe(records[2].runId);
    expect(records[0].runId).not.toBe(records[3].runId);
    expect(records[2]).toMatchObject({ exitCode: 1, summary: { WARN: 1 } });
    expect(fs.readFileSync(file, 'utf8')).not.toContain('sk-live-abcdef0123456789');
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
  });

  it('refuses a symbolic link and leaves its target untouched', () => {
    const target = path.join(dir, 'target');
    fs.writeFileSync(target, 'original\n');
    const link = path.join(dir, 'audit.jsonl');
    fs.symlinkSync(target, link);
    const call = () => appendAuditLog(link, sample, 0);
    expect(call).toThrow(SecurityCheckError);
    expect(call).toThrow(expect.objectContaining({ code: 'ERR_DMEM_AUDIT_LOG' }));
    expect(fs.readFileSync(target, 'utf8')).toBe('original\n');
  });

  it('refuses a relative path and a world-writable directory without the sticky bit', () => {
    expect(inspectAuditSink('audit.jsonl')).toMatchObject({ ok: false });
    const open = path.join(dir, 'open');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    expect(inspectAuditSink(path.join(open, 'a.jsonl')).problem).toMatch(
      /world-writable without the sticky bit/,
    );
    fs.chmodSync(open, 0o1777);
    expect(inspectAuditSink(path.join(open, 'a.jsonl')).ok).toBe(true);
  });
});

describe('preflight() audit log', () => {
  it('writes the run to DYNAMO_MEMORY_AUDIT_LOG and reports RT-AUD-01 as PASS', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const report = await preflight({
      ...tree.options,
      auditLog: undefined,
      env: { DYNAMO_MEMORY_AUDIT_LOG: file },
    });
    expect(report.results.find((r) => r.id === 'RT-AUD-01')?.status).toBe('PASS');
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.length).toBe(report.results.length + 2);
  });

  it('fails RT-AUD-01 for a symlinked audit log and writes nothing', async () => {
    const target = path.join(dir, 'target');
    fs.writeFileSync(target, '');
    const link = path.join(dir, 'audit.jsonl');
    fs.symlinkSync(target, link);
    const report = await preflight({
      ...tree.options,
      auditLog: undefined,
      env: { DYNAMO_MEMORY_AUDIT_LOG: link },
    });
    const result = report.results.find((r) => r.id === 'RT-AUD-01');
    expect(result?.status).toBe('FAIL');
    expect(result?.evidence.at(-1)).toMatch(/symbolic link/);
    expect(fs.readFileSync(target, 'utf8')).toBe('');
  });
});
