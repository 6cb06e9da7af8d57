/**
 * Renders one security report as text, JSON or SARIF 2.1.0. All three come from the same
 * in-memory result set, so a console summary can never disagree with the machine-readable
 * output (catalogue §2, pitfall 13). Every string goes through `redactText` on its way out.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { invalidArgument } from '../errors.js';

import { redactText } from './redact.js';
import type { CheckResult, CheckStatus, Report, Subject } from './report.js';

/** The output formats of `preflight` and `lint`. */
export type ReportFormat = 'text' | 'json' | 'sarif';

export const reportFormats: readonly ReportFormat[] = ['text', 'json', 'sarif'];

/** Options of `renderReport`. */
export interface RenderOptions {
  /** ANSI colours in the text format (ignored by JSON and SARIF). Defaults to `false`. */
  color?: boolean;
  /**
   * SARIF only: also list PASS and SKIP results (as `kind: pass` / `notApplicable`). Code-scanning
   * tools want findings, and a large manifest stream has a hundred thousand passes. Defaults to
   * `false`; every check still appears as a rule.
   */
  sarifIncludePass?: boolean;
}

const statusOrder: readonly CheckStatus[] = ['FAIL', 'WARN', 'INFO', 'PASS', 'SKIP'];

/**
 * Renders a report.
 *
 * @param report the result set of one run.
 * @param format `text` (one line per result, details under findings), `json` (the report with a
 *   `summary`, `schema` and `schemaVersion` first) or `sarif` (SARIF 2.1.0, one rule per check id).
 * @param options `color` for ANSI colours in text (defaults to none); `sarifIncludePass` to list
 *   passing and skipped checks in SARIF too (defaults to findings only).
 * @returns the rendered document, ending with a newline.
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT` for an unknown format.
 */
export function renderReport(
  report: Report,
  format: ReportFormat,
  options: RenderOptions = {},
): string {
  switch (format) {
    case 'text':
      return renderText(report, options.color === true);
    case 'json':
      return JSON.stringify(toJson(report), null, 2) + '\n';
    case 'sarif':
      return JSON.stringify(toSarif(report, options.sarifIncludePass === true), null, 2) + '\n';
    default:
      throw invalidArgument('format', `one of ${reportFormats.join(', ')}`, format);
  }
}

/** Counts of results per status, plus how many were suppressed. */
export interface ReportSummary {
  total: number;
  PASS: number;
  INFO: number;
  WARN: number;
  FAIL: number;
  SKIP: number;
  suppressed: number;
  errors: number;
}

/** Counts the results of a report per status. */
export function summarize(report: Report): ReportSummary {
  const summary: ReportSummary = {
    total: report.results.length,
    PASS: 0,
    INFO: 0,
    WARN: 0,
    FAIL: 0,
    SKIP: 0,
    suppressed: 0,
    errors: report.errors.length,
  };
  for (const result of report.results) {
    summary[result.status] += 1;
    if (result.suppressed) summary.suppressed += 1;
  }
  return summary;
}

// --- JSON ---

function toJson(report: Report): object {
  const { schema, schemaVersion, ...rest } = report;
  return {
    schema,
    schemaVersion,
    ...rest,
    summary: summarize(report),
    results: report.results.map(redactResult),
    errors: report.errors.map((error) => ({ ...error, message: redactText(error.message) })),
  };
}

function redactResult(result: CheckResult): CheckResult {
  const redacted: CheckResult = {
    ...result,
    title: redactText(result.title),
    evidence: result.evidence.map(redactText),
    why: redactText(result.why),
  };
  if (result.remedy !== undefined) redacted.remedy = redactText(result.remedy);
  if (result.suppressed) {
    redacted.suppressed = { ...result.suppressed, reason: redactText(result.suppressed.reason) };
  }
  return redacted;
}

// --- text ---

const ansi = {
  reset: '\u001b[0m',
  bold: '\u001b[1m',
  dim: '\u001b[2m',
  red: '\u001b[31m',
  green: '\u001b[32m',
  yellow: '\u001b[33m',
  blue: '\u001b[34m',
  grey: '\u001b[90m',
};

const statusColour: Record<CheckStatus, string> = {
  FAIL: ansi.red + ansi.bold,
  WARN: ansi.yellow,
  INFO: ansi.blue,
  PASS: ansi.green,
  SKIP: ansi.grey,
};

function renderText(report: Report, color: boolean): string {
  const paint = (code: string, text: string): string => (color ? code + text + ansi.reset : text);
  const lines: string[] = [];
  lines.push(
    paint(ansi.bold, `dynamo-memory ${report.kind}`) +
      ` · profile ${report.profile} · ${report.generatedAt} · v${report.toolVersion}`,
  );

  // One line per result; findings (anything but PASS) get their evidence, reason and remedy.
  for (const raw of report.results) {
    const result = redactResult(raw);
    const subject = describeSubject(result.subject, result.location);
    lines.push(
      `${paint(statusColour[result.status], result.status.padEnd(4))}  ${result.id.padEnd(11)} ` +
        `${result.title}${subject ? paint(ansi.dim, ` (${subject})`) : ''}` +
        (result.status === 'PASS' ? '' : paint(ansi.dim, ` [${result.severity}]`)),
    );
    if (result.suppressed) {
      lines.push(
        `      suppressed (was ${result.suppressed.originalStatus}): ${result.suppressed.reason}`,
      );
    }
    const detailed = result.status !== 'PASS' || result.suppressed !== undefined;
    for (const evidence of detailed ? result.evidence : result.evidence.slice(0, 1)) {
      lines.push(paint(ansi.dim, `      evidence: ${evidence}`));
    }
    if (!detailed) continue;
    if (result.why) lines.push(`      why: ${result.why}`);
    if (result.remedy) lines.push(`      remedy: ${result.remedy}`);
  }

  // Evaluation errors, then the summary line.
  for (const error of report.errors) {
    const where = error.location ? ` (${error.location.file}:${error.location.line})` : '';
    lines.push(`${paint(ansi.red, 'ERROR')} ${error.code}: ${redactText(error.message)}${where}`);
  }
  const summary = summarize(report);
  const counts = statusOrder
    .filter((status) => summary[status] > 0)
    .map((status) => paint(statusColour[status], `${summary[status]} ${status.toLowerCase()}`));
  const extras = [
    summary.suppressed > 0 ? `${summary.suppressed} suppressed` : '',
    summary.errors > 0 ? `${summary.errors} not evaluated` : '',
  ].filter(Boolean);
  lines.push(
    `${summary.total} checks: ${counts.join(', ') || 'none'}` +
      (extras.length ? ` (${extras.join(', ')})` : ''),
  );
  return lines.join('\n') + '\n';
}

function describeSubject(subject?: Subject, location?: CheckResult['location']): string {
  const parts: string[] = [];
  if (location) parts.push(`${location.file}:${location.line}`);
  if (subject) {
    const object = [subject.kind, subject.namespace, subject.name].filter(Boolean).join('/');
    if (object) parts.push(object);
    if (subject.container) parts.push(`container ${subject.container}`);
    if (subject.resource) parts.push(subject.resource);
  }
  return parts.join(', ');
}

// --- SARIF 2.1.0 ---

const sarifSchema = 'https://json.schemastore.org/sarif-2.1.0.json';

/** SARIF levels and kinds (§3.27.9, §3.27.10): only a `fail` kind may carry a non-`none` level. */
const sarifOutcome: Record<CheckStatus, { level: string; kind: string }> = {
  FAIL: { level: 'error', kind: 'fail' },
  WARN: { level: 'warning', kind: 'fail' },
  INFO: { level: 'note', kind: 'fail' },
  PASS: { level: 'none', kind: 'pass' },
  SKIP: { level: 'none', kind: 'notApplicable' },
};

function toSarif(report: Report, includePass: boolean): object {
  const results = report.results.map(redactResult);

  // One rule per check id, described by its first result.
  const ruleIndex = new Map<string, number>();
  const rules: object[] = [];
  for (const result of results) {
    if (ruleIndex.has(result.id)) continue;
    ruleIndex.set(result.id, rules.length);
    rules.push({
      id: result.id,
      name: ruleName(result.title),
      shortDescription: { text: result.title },
      fullDescription: { text: result.why || result.title },
      ...(result.remedy ? { help: { text: result.remedy } } : {}),
      properties: {
        severity: result.severity,
        ...(result.anchors?.length ? { tags: result.anchors } : {}),
      },
    });
  }

  return {
    $schema: sarifSchema,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'dynamo-memory',
            fullName: `dynamo-memory ${report.kind}`,
            version: report.toolVersion,
            semanticVersion: report.toolVersion,
            rules,
          },
        },
        invocations: [
          {
            executionSuccessful: report.errors.length === 0,
            endTimeUtc: report.generatedAt,
            toolExecutionNotifications: report.errors.map((error) => ({
              level: 'error',
              message: { text: redactText(error.message) },
              descriptor: { id: error.code },
              ...(error.location ? { locations: [physicalLocation(error.location)] } : {}),
            })),
          },
        ],
        results: results
          .filter((result) => includePass || (result.status !== 'PASS' && result.status !== 'SKIP'))
          .map((result) => sarifResult(result, ruleIndex.get(result.id)!)),
        properties: { profile: report.profile, schema: report.schema, kind: report.kind },
      },
    ],
  };
}

function sarifResult(result: CheckResult, index: number): object {
  // A suppressed result keeps the level of what it was, and says why it is accepted.
  const outcome = sarifOutcome[result.suppressed?.originalStatus ?? result.status];
  const message = [result.title, ...result.evidence.slice(0, 1)].join(': ');
  const locations: object[] = [];
  const logical = logicalLocations(result.subject);
  if (result.location || logical.length > 0) {
    locations.push({
      ...(result.location ? physicalLocation(result.location) : {}),
      ...(logical.length > 0 ? { logicalLocations: logical } : {}),
    });
  }
  return {
    ruleId: result.id,
    ruleIndex: index,
    kind: outcome.kind,
    level: outcome.level,
    message: { text: result.remedy ? `${message}. Remedy: ${result.remedy}` : message },
    ...(locations.length > 0 ? { locations } : {}),
    ...(result.suppressed
      ? {
          suppressions: [
            { kind: 'external', status: 'accepted', justification: result.suppressed.reason },
          ],
        }
      : {}),
    properties: {
      status: result.status,
      severity: result.severity,
      evidence: result.evidence,
      why: result.why,
      ...(result.anchors?.length ? { anchors: result.anchors } : {}),
    },
  };
}

function physicalLocation(location: NonNullable<CheckResult['location']>): object {
  const absolute = path.isAbsolute(location.file);
  return {
    physicalLocation: {
      artifactLocation: absolute
        ? { uri: pathToFileURL(location.file).href }
        : {
            uri: location.file.split(path.sep).map(encodeURIComponent).join('/'),
            uriBaseId: '%SRCROOT%',
          },
      region: { startLine: location.line, startColumn: location.column },
    },
  };
}

/** Objects (kind/namespace/name/container) for manifests; a resource path for runtime checks. */
function logicalLocations(subject?: Subject): object[] {
  if (!subject) return [];
  const out: object[] = [];
  const object = [subject.kind, subject.namespace, subject.name].filter(Boolean).join('/');
  if (object)
    out.push({ name: subject.name ?? object, fullyQualifiedName: object, kind: 'object' });
  if (subject.container) {
    const qualified = object ? `${object}/container:${subject.container}` : subject.container;
    out.push({ name: subject.container, fullyQualifiedName: qualified, kind: 'object' });
  }
  if (subject.resource) {
    out.push({ name: subject.resource, fullyQualifiedName: subject.resource, kind: 'resource' });
  }
  return out;
}

function ruleName(title: string): string {
  const words = title
    .replace(/[^A-Za-z0-9 ]+/g, ' ')
    .trim()
    .split(/\s+/);
  return words.map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');
}
