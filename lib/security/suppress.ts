/**
 * Suppressions: an accepted finding stays in the report as INFO, with the reason and what it was,
 * so nothing is ever dropped silently. A suppression without a reason is refused.
 */
import { InvalidArgumentError } from '../errors.js';

import type { CheckResult } from './report.js';

/**
 * Applies suppressions to a result set. A WARN or FAIL result whose id has a suppression becomes
 * INFO with `suppressed: { reason, originalStatus }`; every other result is returned unchanged.
 * The input array and its results are not modified.
 *
 * @param results the results of one run.
 * @param suppressions check id → reason.
 * @returns a new array, in the same order.
 * @throws {InvalidArgumentError} `ERR_DMEM_SUPPRESSION_REASON` when a reason is empty, and
 *   `ERR_DMEM_INVALID_ARGUMENT` when an id is empty.
 */
export function applySuppressions(
  results: readonly CheckResult[],
  suppressions: ReadonlyMap<string, string>,
): CheckResult[] {
  for (const [id, reason] of suppressions) validate(id, reason);
  return results.map((result) => {
    const reason = suppressions.get(result.id);
    if (reason === undefined || (result.status !== 'WARN' && result.status !== 'FAIL')) {
      return result;
    }
    return {
      ...result,
      status: 'INFO',
      suppressed: { reason: reason.trim(), originalStatus: result.status },
    };
  });
}

/**
 * Parses `ID=REASON` texts (the CLI's repeated `--ignore`) into a suppression map.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_SUPPRESSION_REASON` for an entry without `=REASON` or
 *   with an empty reason, `ERR_DMEM_INVALID_ARGUMENT` for an empty or malformed id.
 */
export function parseSuppressions(entries: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    const id = (equals < 0 ? entry : entry.slice(0, equals)).trim();
    const reason = equals < 0 ? '' : entry.slice(equals + 1);
    validate(id, reason);
    map.set(id, reason.trim());
  }
  return map;
}

/** Suppression ids that matched no result: usually a typo, worth a warning. */
export function unmatchedSuppressions(
  results: readonly CheckResult[],
  suppressions: ReadonlyMap<string, string>,
): string[] {
  const ids = new Set(results.map((result) => result.id));
  return [...suppressions.keys()].filter((id) => !ids.has(id));
}

function validate(id: string, reason: string): void {
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(id)) {
    throw new InvalidArgumentError(
      'ERR_DMEM_INVALID_ARGUMENT',
      `Expected a suppression to name a check id such as RT-CAP-01, received ${JSON.stringify(id)}`,
    );
  }
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new InvalidArgumentError(
      'ERR_DMEM_SUPPRESSION_REASON',
      `Expected a reason for suppressing ${id} (write ${id}=<why this is accepted>), received none`,
    );
  }
}
