/** Shared setup of the CUDA CPU tier: the stand-in driver, and child processes that use it. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { type ChildResult, distUrl, runModule } from '../support/child.js';
import { forkHelper, standInLibrary } from '../support/cuda-stand-in/build.js';

export { forkHelper, standInLibrary };

/** The package entry point, compiled (`npm test` builds dist/ first). */
export const indexUrl = distUrl('index.js');

/** What the stand-in reports at exit: objects still alive and misuse it saw. */
export interface StandInReport {
  initCalls: number;
  deviceAllocations: number;
  hostAllocations: number;
  registrations: number;
  contextRefs: number;
  callsWithoutContext: number;
}

/** Points this process at the stand-in; call before the first CUDA call in a test file. */
export function useStandIn(env: Record<string, string> = {}): string {
  const library = standInLibrary();
  process.env.DYNAMO_MEMORY_CUDA_STAND_IN = library;
  Object.assign(process.env, env);
  return library;
}

/**
 * Runs `source` (an ES module body; `cuda` is the package) in a child process with the stand-in
 * driver and returns the child's result plus the stand-in's exit report (null when the driver
 * library was never loaded).
 */
export function runWithStandIn(
  source: string,
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[]; prefix?: string[] } = {},
): ChildResult & { report: StandInReport | null } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dmem-cuda-report-'));
  const reportPath = path.join(dir, 'report.json');
  try {
    const child = runModule(`import * as cuda from ${JSON.stringify(indexUrl)};\n${source}`, {
      nodeArgs: options.nodeArgs,
      prefix: options.prefix,
      env: {
        DYNAMO_MEMORY_CUDA_STAND_IN: standInLibrary(),
        DMEM_CUDA_STAND_IN_REPORT: reportPath,
        DMEM_INDEX_URL: indexUrl,
        DMEM_BINDING_URL: distUrl('binding.js'),
        ...options.env,
      },
      timeout: 60_000,
    });
    let report: StandInReport | null = null;
    try {
      report = JSON.parse(readFileSync(reportPath, 'utf8')) as StandInReport;
    } catch {
      report = null;
    }
    return { ...child, report };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
