/** Shared helpers of the lint tests: lint a fixture and pick results out of the report. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { type LintOptions, lintSources } from '../../../lib/security/lint.js';
import type { CheckResult, CheckStatus, Report } from '../../../lib/security/report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures');

/** Absolute path of a fixture under test/fixtures. */
export function fixture(relative: string): string {
  return path.join(root, relative);
}

/** Lints one fixture file (named relative to test/fixtures) with the given options. */
export function lintFixture(relative: string, options: LintOptions = {}): Report {
  const file = fixture(relative);
  return lintSources([{ name: relative, text: readFileSync(file, 'utf8') }], options);
}

/** What a result must match; unset fields match anything. */
export interface Expect {
  id: string;
  status?: CheckStatus;
  name?: string;
  container?: string;
  resource?: string;
  line?: number;
}

/** The results matching `expect`. */
export function pick(report: Report, expect: Expect): CheckResult[] {
  return report.results.filter(
    (result) =>
      result.id === expect.id &&
      (expect.status === undefined || result.status === expect.status) &&
      (expect.name === undefined || result.subject?.name === expect.name) &&
      (expect.container === undefined || result.subject?.container === expect.container) &&
      (expect.resource === undefined || result.subject?.resource === expect.resource) &&
      (expect.line === undefined || result.location?.line === expect.line),
  );
}

/** The single result matching `expect`; throws with the candidates when there is not one. */
export function one(report: Report, expect: Expect): CheckResult {
  const found = pick(report, expect);
  if (found.length !== 1) {
    const same = report.results
      .filter((result) => result.id === expect.id)
      .map((r) => `${r.status} ${JSON.stringify(r.subject)} line ${r.location?.line}`);
    throw new Error(
      `expected one ${JSON.stringify(expect)}, found ${found.length}; ${expect.id}: ${same.join(' | ')}`,
    );
  }
  return found[0]!;
}

/** `id status` of every result that is not PASS, for compact whole-report assertions. */
export function findings(report: Report, filter: (r: CheckResult) => boolean = () => true) {
  return report.results
    .filter((r) => r.status !== 'PASS' && filter(r))
    .map((r) => `${r.id} ${r.status}`);
}
