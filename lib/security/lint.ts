/**
 * `lint`: the security checks applied before anything runs, to Kubernetes manifests (Pods,
 * controllers, Dynamo's DynamoGraphDeployment and DynamoComponentDeployment) and to `docker run`
 * lines in scripts. The result is the same Report the runtime preflight returns, rendered by the
 * same renderer, with the same exit codes.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { packageRoot } from '../binding.js';
import { checkOptionKeys, invalidArgument } from '../errors.js';

import { scanDockerRuns } from './docker-run.js';
import { finding } from './manifest/catalogue.js';
import { checkWorkload } from './manifest/checks.js';
import { extractWorkloads } from './manifest/workloads.js';
import { loadYamlStream } from './manifest/yaml.js';
import { getProfile } from './profiles.js';
import type { CheckResult, EvaluationError, ProfileName, Report } from './report.js';
import { applySuppressions } from './suppress.js';

/** One input: a file's name (for locations) and its text. */
export interface LintSource {
  name: string;
  text: string;
  /**
   * `kubernetes` (YAML or JSON manifests) or `docker` (a script or command line). Defaults to
   * a guess from the file extension, then from the content.
   */
  type?: 'kubernetes' | 'docker';
}

/** Options of `lint` and `lintSources`. */
export interface LintOptions {
  /** What the data path needs. Defaults to `base`. */
  profile?: ProfileName;
  /** Host memory the service pins, in bytes; defaults to `DYN_KVBM_CPU_CACHE_GB` per container. */
  pinnedBytes?: number;
  /** Accept inputs with no workload at all instead of reporting an error. Defaults to `false`. */
  allowEmpty?: boolean;
  /** Check id → reason, applied to every workload (the CLI's `--ignore`). Defaults to none. */
  suppressions?: ReadonlyMap<string, string>;
}

const optionKeys = ['profile', 'pinnedBytes', 'allowEmpty', 'suppressions'];

/**
 * Lints in-memory sources. Never throws for bad input: malformed YAML, unknown kinds, empty
 * files and unknown docker flags become located errors or findings.
 *
 * @returns a Report of kind `lint`: `errors` lists what could not be evaluated (exit code 2).
 * @throws {InvalidArgumentError} `ERR_DMEM_UNKNOWN_OPTION` for an unknown option key,
 *   `ERR_DMEM_UNKNOWN_PROFILE` for an unknown profile, `ERR_DMEM_INVALID_ARGUMENT` for a
 *   pinned size that is not a non-negative integer, `ERR_DMEM_SUPPRESSION_REASON` for a
 *   suppression without a reason.
 */
export function lintSources(sources: readonly LintSource[], options: LintOptions = {}): Report {
  checkOptionKeys(options, optionKeys, 'lint options');
  const profile = getProfile(options.profile ?? 'base');
  const pinned = options.pinnedBytes;
  if (pinned !== undefined && !(Number.isSafeInteger(pinned) && pinned >= 0)) {
    throw invalidArgument('pinnedBytes', 'a non-negative safe integer', pinned);
  }
  const global = options.suppressions ?? new Map<string, string>();
  applySuppressions([], global);

  const results: CheckResult[] = [];
  const errors: EvaluationError[] = [];
  let workloads = 0;
  for (const source of sources) {
    const type = source.type ?? guessType(source);
    if (type === 'docker') {
      const scan = scanDockerRuns(source.name, source.text);
      results.push(...scan.findings);
      for (const workload of scan.workloads) {
        workloads++;
        const static_ = { profile, ...(pinned !== undefined ? { pinnedBytes: pinned } : {}) };
        results.push(...checkWorkload(workload, static_));
      }
      continue;
    }
    const stream = loadYamlStream(source.name, source.text);
    errors.push(...stream.errors);
    const template = templateFinding(source);
    if (template) results.push(template);
    for (const doc of stream.documents) {
      const extracted = extractWorkloads(doc);
      results.push(...extracted.findings);
      for (const workload of extracted.workloads) {
        workloads++;
        const static_ = { profile, ...(pinned !== undefined ? { pinnedBytes: pinned } : {}) };
        results.push(...checkWorkload(workload, static_));
      }
    }
  }

  if (workloads === 0 && !options.allowEmpty && errors.length === 0) {
    errors.push({
      code: 'ERR_DMEM_LINT_EMPTY',
      message: `no workload found in ${sources.map((s) => s.name).join(', ') || 'the input'} (a Pod, a controller, a Dynamo resource or a docker run line); pass --allow-empty to accept that`,
      ...(sources[0] ? { location: { file: sources[0].name, line: 1, column: 1 } } : {}),
    });
  }
  return {
    schema: 'dynamo-memory/security-report',
    schemaVersion: 1,
    kind: 'lint',
    profile: profile.name,
    generatedAt: new Date().toISOString(),
    toolVersion: toolVersion(),
    results: applySuppressions(results, global),
    errors,
  };
}

/**
 * Lints files; `-` reads standard input. A file that cannot be read is an evaluation error
 * (exit code 2), not a throw.
 *
 * @throws {InvalidArgumentError} as `lintSources`.
 */
export async function lint(files: readonly string[], options: LintOptions = {}): Promise<Report> {
  const sources: LintSource[] = [];
  const unreadable: EvaluationError[] = [];
  for (const file of files) {
    try {
      const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
      sources.push({ name: file === '-' ? '<stdin>' : file, text });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'ERR_DMEM_LINT_READ';
      unreadable.push({
        code,
        message: `${file}: cannot read: ${(error as Error).message}`,
        location: { file, line: 1, column: 1 },
      });
    }
  }
  const report = lintSources(sources, {
    ...options,
    allowEmpty: options.allowEmpty === true || unreadable.length > 0,
  });
  report.errors.unshift(...unreadable);
  return report;
}

const placeholder = /\$\{[A-Za-z_][A-Za-z0-9_]*\}|\{\{[^}]*\}\}/g;

/** One INFO per templated manifest, naming its placeholders (checked as written). */
function templateFinding(source: LintSource): CheckResult | undefined {
  const found = [...source.text.matchAll(placeholder)];
  if (found.length === 0) return undefined;
  const before = source.text.slice(0, found[0]!.index);
  const line = before.split('\n').length;
  const column = found[0]!.index! - before.lastIndexOf('\n');
  return finding('ST-INPUT-04', 'INFO', {
    evidence: [...new Set(found.map((match) => `unresolved: ${match[0]}`))],
    why: 'a templated manifest is checked as written: placeholders are neither numbers nor booleans, so the fields they stand for count as unset',
    location: { file: source.name, line, column },
  });
}

/** Extension first (.yaml, .yml, .json vs .sh, .bash), then a look at the content. */
function guessType(source: LintSource): 'kubernetes' | 'docker' {
  const ext = path.extname(source.name).toLowerCase();
  if (['.yaml', '.yml', '.json'].includes(ext)) return 'kubernetes';
  if (['.sh', '.bash', '.zsh', '.ksh'].includes(ext)) return 'docker';
  if (/^\s*(apiVersion|kind)\s*:/m.test(source.text)) return 'kubernetes';
  if (/\b(docker|nvidia-docker|podman)(\s+container)?\s+(run|create)\b/.test(source.text)) {
    return 'docker';
  }
  return 'kubernetes';
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

let version: string | undefined;

function toolVersion(): string {
  version ??= (
    JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  return version;
}
