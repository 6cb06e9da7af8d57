/**
 * The runtime preflight: what this container lacks for the data path, and what it has that it
 * should not. Services call `preflight()` at start-up; `dynamo-memory preflight` wraps it for
 * init containers. The checks are listed in docs/preflight.md and the catalogue.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { packageRoot } from '../binding.js';
import { checkOptionKeys, invalidArgument } from '../errors.js';

import { appendAuditLog, auditLogPath, auditLogVariable, inspectAuditSink } from './audit-log.js';
import { getProfile } from './profiles.js';
import {
  type CheckResult,
  type FailOn,
  type ProfileName,
  type Report,
  reportExitCode,
} from './report.js';
import {
  checkAmbientCapabilities,
  checkForbiddenCapabilities,
  checkMemlockProbe,
  checkPrivileged,
  checkRequiredCapabilities,
  checkToleratedCapabilities,
} from './runtime/checks/capabilities.js';
import { checkConfinement, checkLsm, checkSyscalls } from './runtime/checks/confinement.js';
import { checkDataDir } from './runtime/checks/datadir.js';
import {
  checkDrivers,
  checkRequiredDevices,
  checkUnexpectedDevices,
} from './runtime/checks/devices.js';
import { checkInjection, checkNvidiaEnv, checkSecrets } from './runtime/checks/environment.js';
import {
  checkContainerContext,
  checkHostNamespaces,
  checkIdentity,
} from './runtime/checks/identity.js';
import {
  checkCgroupMemory,
  checkLimits,
  checkPageSize,
  checkShm,
} from './runtime/checks/limits.js';
import {
  checkHostMounts,
  checkRuntimeSockets,
  checkTmpAndRoot,
  checkUdev,
} from './runtime/checks/mounts.js';
import { type Probes, result, RuntimeContext, type RuntimeCheck } from './runtime/context.js';
import { realProbes } from './runtime/probes.js';
import { SystemView } from './runtime/system.js';
import { applySuppressions } from './suppress.js';

/** Options of `preflight()`. */
export interface PreflightOptions {
  /** What the data path needs (catalogue §3). Defaults to `'base'`. */
  profile?: ProfileName;
  /** The directory the data path writes with O_DIRECT; its checks are SKIP without it. */
  dataDir?: string;
  /** Host memory the service will pin, in bytes; judged against memlock and the cgroup limit. */
  pinnedBytes?: number;
  /** Accepted findings: check id → reason (mandatory). */
  suppressions?: ReadonlyMap<string, string>;
  /** The environment to judge. Defaults to `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where /proc is. Defaults to `/proc` (tests point it at fixture trees). */
  procRoot?: string;
  /** Where /sys is. Defaults to `/sys`. */
  sysRoot?: string;
  /** Where /dev is. Defaults to `/dev`. */
  devRoot?: string;
  /** The root for /etc, /run and /var paths. Defaults to `/`. */
  rootDir?: string;
  /** Replaces functional probes (mlock, O_DIRECT, writability, system calls). Defaults to real ones. */
  probes?: Partial<Probes>;
  /**
   * Appends the run to this JSONL file. Defaults to `DYNAMO_MEMORY_AUDIT_LOG`; `false` disables it.
   */
  auditLog?: string | false;
  /** Decides the exit code recorded in the audit log. Defaults to `'fail'`. */
  failOn?: FailOn;
}

const knownOptions = [
  'profile',
  'dataDir',
  'pinnedBytes',
  'suppressions',
  'env',
  'procRoot',
  'sysRoot',
  'devRoot',
  'rootDir',
  'probes',
  'auditLog',
  'failOn',
] as const;

/** Every runtime check, in report order. */
export const runtimeChecks: readonly RuntimeCheck[] = [
  checkContainerContext,
  checkHostNamespaces,
  checkIdentity,
  checkForbiddenCapabilities,
  checkRequiredCapabilities,
  checkMemlockProbe,
  checkToleratedCapabilities,
  checkPrivileged,
  checkAmbientCapabilities,
  checkConfinement,
  checkLsm,
  checkSyscalls,
  checkLimits,
  checkCgroupMemory,
  checkShm,
  checkPageSize,
  checkUdev,
  checkRuntimeSockets,
  checkHostMounts,
  checkTmpAndRoot,
  checkDataDir,
  checkRequiredDevices,
  checkUnexpectedDevices,
  checkDrivers,
  checkInjection,
  checkSecrets,
  checkNvidiaEnv,
];

/**
 * Runs every runtime check and returns the report. Checks never throw: one that cannot decide is
 * SKIP with the reason; when /proc itself is unreadable the report carries an evaluation error
 * (exit code 2).
 *
 * @example
 * const report = await preflight({ profile: 'gds', dataDir: '/data', pinnedBytes: 8 << 30 });
 * if (reportExitCode(report) !== 0) console.error(renderReport(report, 'text'));
 * @throws {InvalidArgumentError} `ERR_DMEM_UNKNOWN_OPTION` for an unknown option key,
 *   `ERR_DMEM_UNKNOWN_PROFILE` for an unknown profile, `ERR_DMEM_INVALID_ARGUMENT` for a bad
 *   `dataDir` or `pinnedBytes`, `ERR_DMEM_SUPPRESSION_REASON` for a suppression without a reason.
 * @throws {SecurityCheckError} `ERR_DMEM_AUDIT_LOG` when the audit log cannot be appended to
 *   (the report is still complete: RT-AUD-01 says why).
 */
export async function preflight(options: PreflightOptions = {}): Promise<Report> {
  checkOptionKeys(options, knownOptions, 'preflight()');
  const profile = options.profile ?? 'base';
  const policy = getProfile(profile);
  if (
    options.dataDir !== undefined &&
    (typeof options.dataDir !== 'string' || options.dataDir === '')
  ) {
    throw invalidArgument('dataDir', 'a non-empty path', options.dataDir);
  }
  const pinned = options.pinnedBytes;
  if (pinned !== undefined && !(Number.isSafeInteger(pinned) && pinned >= 0)) {
    throw invalidArgument('pinnedBytes', 'a non-negative safe integer', pinned);
  }
  const env = options.env ?? process.env;
  const view = new SystemView(options);
  const probes: Probes = { ...realProbes, ...options.probes };
  const context = new RuntimeContext(
    {
      profile,
      env,
      ...(options.dataDir !== undefined ? { dataDir: path.resolve(options.dataDir) } : {}),
      ...(pinned !== undefined ? { pinnedBytes: pinned } : {}),
    },
    policy,
    view,
    probes,
  );

  // Run every check; a check that throws anyway becomes SKIP rather than ending the run.
  const results: CheckResult[] = [];
  for (const check of runtimeChecks) {
    try {
      results.push(...check(context));
    } catch (error) {
      results.push({
        id: `RT-INTERNAL`,
        title: `Check ${check.name} could not run`,
        status: 'SKIP',
        severity: 'low',
        evidence: [error instanceof Error ? error.message : String(error)],
        why: 'An unexpected failure inside the check; please report it.',
      });
    }
  }

  // The audit sink is itself a check (RT-AUD-01).
  const auditFile =
    options.auditLog === false ? undefined : (options.auditLog ?? auditLogPath(env));
  const sink = auditFile === undefined ? undefined : inspectAuditSink(auditFile);
  results.push(
    result(
      {
        id: 'RT-AUD-01',
        title: 'Audit log sink',
        severity: 'medium',
        why: 'The JSONL trail must not be redirectable (symlink) or writable by others.',
      },
      sink === undefined
        ? { status: 'INFO', evidence: [`${auditLogVariable} unset: no audit log`] }
        : {
            status: sink.ok ? 'PASS' : 'FAIL',
            evidence: sink.problem ? [...sink.evidence, sink.problem] : sink.evidence,
            remedy: `point ${auditLogVariable} at a regular file in a directory only this user can write`,
            subject: { resource: auditFile! },
          },
    ),
  );

  const status = context.status();
  const report: Report = {
    schema: 'dynamo-memory/security-report',
    schemaVersion: 1,
    kind: 'preflight',
    profile,
    generatedAt: new Date().toISOString(),
    toolVersion: toolVersion(),
    results: applySuppressions(results, options.suppressions ?? new Map()),
    errors: status.ok
      ? []
      : [
          {
            code: status.code,
            message: `Cannot read ${view.resolve('/proc/self/status')}: ${status.message}`,
          },
        ],
  };
  if (auditFile !== undefined && sink?.ok) {
    appendAuditLog(auditFile, report, reportExitCode(report, options.failOn ?? 'fail'));
  }
  return report;
}

let version: string | undefined;

function toolVersion(): string {
  version ??= (
    JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }
  ).version;
  return version;
}
