/**
 * The optional JSONL audit log of security runs. The path comes from `DYNAMO_MEMORY_AUDIT_LOG`;
 * the file is opened append-only with O_NOFOLLOW (a symlink is refused, so the log cannot be
 * redirected onto another file), created 0640, and each run is one write of a header line, one
 * line per result (secrets redacted) and a footer line.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { SecurityCheckError } from '../errors.js';

import { redactText } from './redact.js';
import { summarize } from './render.js';
import type { CheckResult, Report } from './report.js';

/** The variable that names the audit log. */
export const auditLogVariable = 'DYNAMO_MEMORY_AUDIT_LOG';

/** The configured audit log path, or undefined when unset or empty. */
export function auditLogPath(
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const value = env[auditLogVariable]?.trim();
  return value ? value : undefined;
}

/** Whether an audit log path is safe to append to, with the facts that decided. */
export interface AuditSinkInspection {
  ok: boolean;
  evidence: string[];
  /** Why it is refused. */
  problem?: string;
}

/**
 * Inspects an audit log path without writing: a symlink, something other than a regular file, a
 * relative path, or a parent directory that anyone may write without the sticky bit is refused.
 */
export function inspectAuditSink(file: string): AuditSinkInspection {
  const evidence = [`${auditLogVariable}=${file}`];
  if (!path.isAbsolute(file)) {
    return { ok: false, evidence, problem: 'the audit log path must be absolute' };
  }
  const dir = path.dirname(file);
  try {
    const parent = fs.statSync(dir);
    evidence.push(
      `${dir}: owner ${parent.uid}:${parent.gid}, mode ${(parent.mode & 0o7777).toString(8)}`,
    );
    if ((parent.mode & 0o002) !== 0 && (parent.mode & 0o1000) === 0) {
      return { ok: false, evidence, problem: `${dir} is world-writable without the sticky bit` };
    }
  } catch (error) {
    return { ok: false, evidence, problem: `${dir}: ${(error as NodeJS.ErrnoException).code}` };
  }
  try {
    const stats = fs.lstatSync(file);
    evidence.push(
      `${file}: mode ${(stats.mode & 0o7777).toString(8)}, owner ${stats.uid}:${stats.gid}`,
    );
    if (stats.isSymbolicLink())
      return { ok: false, evidence, problem: `${file} is a symbolic link` };
    if (!stats.isFile()) return { ok: false, evidence, problem: `${file} is not a regular file` };
    if ((stats.mode & 0o002) !== 0)
      return { ok: false, evidence, problem: `${file} is world-writable` };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      return { ok: false, evidence, problem: `${file}: ${(error as NodeJS.ErrnoException).code}` };
    }
    evidence.push(`${file} does not exist yet (created 0640)`);
  }
  return { ok: true, evidence };
}

/**
 * Appends one run to the audit log: a `run-start` record, one `result` record per check and a
 * `run-end` record with the summary, in a single append.
 *
 * @param file an absolute path; a symlink is refused.
 * @param report the run.
 * @param exitCode the run's exit code, recorded in `run-end`.
 * @throws {SecurityCheckError} `ERR_DMEM_AUDIT_LOG` when the file cannot be opened or written
 *   (a symlink gives ELOOP, reported in the message).
 */
export function appendAuditLog(file: string, report: Report, exitCode: number): void {
  const inspection = inspectAuditSink(file);
  if (!inspection.ok) {
    throw new SecurityCheckError(
      'ERR_DMEM_AUDIT_LOG',
      `Refusing audit log ${file}: ${inspection.problem}`,
    );
  }
  const runId = randomUUID();
  const base = { runId, kind: report.kind, profile: report.profile };
  const records: object[] = [
    {
      type: 'run-start',
      ...base,
      time: report.generatedAt,
      tool: 'dynamo-memory',
      toolVersion: report.toolVersion,
      hostname: os.hostname(),
      pid: process.pid,
      uid: process.getuid?.(),
    },
    ...report.results.map((result) => ({ type: 'result', ...base, ...redactResult(result) })),
    ...report.errors.map((error) => ({
      type: 'error',
      ...base,
      ...error,
      message: redactText(error.message),
    })),
    {
      type: 'run-end',
      ...base,
      time: new Date().toISOString(),
      summary: summarize(report),
      exitCode,
    },
  ];
  const text = records.map((record) => JSON.stringify(record)).join('\n') + '\n';

  let fd: number | undefined;
  try {
    const flags =
      fs.constants.O_WRONLY |
      fs.constants.O_APPEND |
      fs.constants.O_CREAT |
      fs.constants.O_NOFOLLOW;
    fd = fs.openSync(file, flags, 0o640);
    // NB: O_NOFOLLOW only guards the last component; fstat confirms we opened a regular file.
    if (!fs.fstatSync(fd).isFile())
      throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
    fs.writeSync(fd, text);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'UNKNOWN';
    throw new SecurityCheckError(
      'ERR_DMEM_AUDIT_LOG',
      `Could not append to audit log ${file}: ${code}${code === 'ELOOP' ? ' (it is a symbolic link)' : ''}`,
      { cause: error },
    );
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function redactResult(result: CheckResult): CheckResult {
  return {
    ...result,
    evidence: result.evidence.map(redactText),
    why: redactText(result.why),
    ...(result.remedy ? { remedy: redactText(result.remedy) } : {}),
  };
}
