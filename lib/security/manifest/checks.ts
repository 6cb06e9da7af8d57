/**
 * Runs every static check on one workload and applies its suppression annotations
 * (`memory.dynamo.ai/ignore-check.<ID>: "<reason>"`, a reason is required).
 */
import { InvalidArgumentError } from '../../errors.js';
import type { CheckResult } from '../report.js';
import { applySuppressions } from '../suppress.js';

import { finding } from './catalogue.js';
import {
  checkCapabilities,
  checkEscalation,
  checkGroups,
  checkHostNamespaces,
  checkLsm,
  checkPinning,
  checkPrivileged,
  checkProcAndSysctls,
  checkSeccomp,
  checkUser,
} from './checks-privilege.js';
import {
  checkDevices,
  checkEnvironment,
  checkGpus,
  checkHostPaths,
  checkImages,
  checkMemory,
  checkRootFilesystem,
  checkServiceAccount,
  checkUlimits,
  checkWindows,
} from './checks-resources.js';
import { Collector, type StaticOptions } from './collector.js';
import type { WorkloadModel } from './model.js';
import { checkPss } from './pss.js';

/** The annotation prefix of a suppression; the check id follows it. */
export const suppressionPrefix = 'memory.dynamo.ai/ignore-check.';

const linuxChecks = [
  checkPrivileged,
  checkHostNamespaces,
  checkCapabilities,
  checkPinning,
  checkEscalation,
  checkUser,
  checkGroups,
  checkSeccomp,
  checkLsm,
  checkProcAndSysctls,
  checkHostPaths,
  checkDevices,
  checkMemory,
  checkGpus,
  checkUlimits,
  checkEnvironment,
  checkRootFilesystem,
  checkServiceAccount,
  checkImages,
  checkPss,
];

const windowsChecks = [
  checkWindows,
  checkHostPaths,
  checkEnvironment,
  checkServiceAccount,
  checkImages,
  checkPss,
];

/**
 * Checks one workload. Suppressed findings stay in the result as INFO with their reason; a
 * suppression without a reason is ignored and reported as ST-SUP-01.
 */
export function checkWorkload(workload: WorkloadModel, options: StaticOptions): CheckResult[] {
  const collector = new Collector(workload, options);
  const checks = workload.os?.value === 'windows' ? windowsChecks : linuxChecks;
  for (const check of checks) check(collector);

  const suppressions = new Map<string, string>();
  const problems: CheckResult[] = [];
  for (const [key, annotation] of workload.annotations) {
    if (!key.startsWith(suppressionPrefix)) continue;
    const id = key.slice(suppressionPrefix.length);
    try {
      applySuppressions([], new Map([[id, annotation.value]]));
      suppressions.set(id, annotation.value.trim());
    } catch (error) {
      const code = error instanceof InvalidArgumentError ? error.code : 'ERR_DMEM_INTERNAL';
      problems.push(
        finding('ST-SUP-01', 'WARN', {
          evidence: [`${key}: ${JSON.stringify(annotation.value)}`, code],
          subject: workload.subject,
          ...(annotation.loc ? { location: annotation.loc } : {}),
        }),
      );
    }
  }
  return [...applySuppressions(collector.results, suppressions), ...problems];
}
