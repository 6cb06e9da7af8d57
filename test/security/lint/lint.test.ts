import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../../lib/errors.js';
import { lint, lintSources } from '../../../lib/security/lint.js';
import { reportExitCode } from '../../../lib/security/report.js';

import { fixture, one } from './helpers.js';

const privileged =
  'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n' +
  '    - {name: c, image: "a:1", securityContext: {privileged: true}}\n';

describe('lintSources()', () => {
  it('returns a lint report with the profile, version and every result', () => {
    const report = lintSources([{ name: 'p.yaml', text: privileged }], { profile: 'gpu' });
    expect(report).toMatchObject({
      schema: 'dynamo-memory/security-report',
      schemaVersion: 1,
      kind: 'lint',
      profile: 'gpu',
      errors: [],
    });
    expect(report.toolVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(reportExitCode(report)).toBe(1);
  });

  it('applies global suppressions to every workload', () => {
    const report = lintSources([{ name: 'p.yaml', text: privileged }], {
      suppressions: new Map([['ST-PRIV-01', 'lab machine']]),
    });
    expect(one(report, { id: 'ST-PRIV-01' })).toMatchObject({
      status: 'INFO',
      suppressed: { reason: 'lab machine', originalStatus: 'FAIL' },
    });
  });

  it('guesses the input type from the content when the name has no extension', () => {
    const docker = lintSources([{ name: 'cmd', text: 'docker run --privileged a:1' }]);
    expect(one(docker, { id: 'ST-PRIV-01' }).subject?.kind).toBe('docker run');
    const yaml = lintSources([{ name: 'manifest', text: privileged }]);
    expect(one(yaml, { id: 'ST-PRIV-01' }).subject?.kind).toBe('Pod');
  });

  it('is an evaluation error, not a throw, when nothing was given', () => {
    const report = lintSources([]);
    expect(report.errors).toEqual([expect.objectContaining({ code: 'ERR_DMEM_LINT_EMPTY' })]);
    expect(reportExitCode(report)).toBe(2);
    expect(lintSources([], { allowEmpty: true }).errors).toEqual([]);
  });

  it('rejects an unknown option with ERR_DMEM_UNKNOWN_OPTION', () => {
    const call = () => lintSources([], { profil: 'gpu' } as never);
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(expect.objectContaining({ code: 'ERR_DMEM_UNKNOWN_OPTION' }));
  });

  it('rejects an unknown profile with ERR_DMEM_UNKNOWN_PROFILE', () => {
    const call = () => lintSources([], { profile: 'gpus' as never });
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(expect.objectContaining({ code: 'ERR_DMEM_UNKNOWN_PROFILE' }));
  });

  it('rejects a pinned size that is not a non-negative integer with ERR_DMEM_INVALID_ARGUMENT', () => {
    const call = () => lintSources([], { pinnedBytes: -1 });
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(expect.objectContaining({ code: 'ERR_DMEM_INVALID_ARGUMENT' }));
  });

  it('rejects a global suppression without a reason with ERR_DMEM_SUPPRESSION_REASON', () => {
    const call = () => lintSources([], { suppressions: new Map([['ST-PRIV-01', ' ']]) });
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(expect.objectContaining({ code: 'ERR_DMEM_SUPPRESSION_REASON' }));
  });

  it('never throws on arbitrary YAML or shell text', () => {
    const pieces = fc.constantFrom(
      'apiVersion: v1\n',
      'kind: Pod\n',
      'kind: DynamoGraphDeployment\n',
      'spec:\n',
      '  containers:\n',
      '    - name: c\n',
      '  services: {A: {extraPodSpec: 3}}\n',
      '  components: [1, {podTemplate: []}]\n',
      '---\n',
      '- x\n',
      '  volumes: [{hostPath: 7}]\n',
      'docker run ',
      '--cap-add ',
      '-v ',
      '"$(',
      "'",
      '\\\n',
      '${X:-',
      '--user 0:0 ',
      'img ',
      '&& ',
      '# c\n',
      '*alias\n',
      '&anchor ',
      '{',
      ']',
      '\t',
      'securityContext: {privileged: yes}\n',
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 40 }), fc.boolean(), (parts, docker) => {
        const report = lintSources(
          [{ name: 'x', text: parts.join(''), type: docker ? 'docker' : 'kubernetes' }],
          { allowEmpty: true },
        );
        expect(Array.isArray(report.results)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('lint()', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'dmem-lint-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads several files of both kinds into one report', async () => {
    const report = await lint(
      [fixture('manifests/b21-ipc-lock-nonroot.yaml'), fixture('docker/oneliner.txt')],
      { profile: 'gpu' },
    );
    const files = new Set(report.results.map((result) => path.basename(result.location!.file)));
    expect([...files].sort()).toEqual(['b21-ipc-lock-nonroot.yaml', 'oneliner.txt']);
  });

  it('reports an unreadable file as an evaluation error with its errno code', async () => {
    const missing = path.join(dir, 'missing.yaml');
    const report = await lint([missing, fixture('manifests/pod.json')]);
    expect(report.errors).toEqual([
      expect.objectContaining({ code: 'ENOENT', location: { file: missing, line: 1, column: 1 } }),
    ]);
    expect(one(report, { id: 'ST-PRIV-01' }).status).toBe('FAIL');
    expect(reportExitCode(report)).toBe(2);
  });

  it('reads a file written with CRLF line endings', async () => {
    const file = path.join(dir, 'crlf.sh');
    writeFileSync(file, 'docker run \\\r\n  --privileged \\\r\n  img:1\r\n');
    const report = await lint([file]);
    expect(one(report, { id: 'ST-PRIV-01' })).toMatchObject({
      status: 'FAIL',
      location: { line: 2 },
    });
    expect(one(report, { id: 'ST-IMG-01' }).evidence).toEqual(['image img:1']);
  });
});
