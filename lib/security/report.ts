/**
 * The result model shared by the runtime preflight (`preflight`) and the manifest checker
 * (`lint`). One result set renders as text, JSON and SARIF (render.ts), so the outputs can never
 * disagree. Checks never throw: a check that cannot decide returns SKIP with the reason.
 */

/** The outcome of one check. */
export type CheckStatus = 'PASS' | 'INFO' | 'WARN' | 'FAIL' | 'SKIP';

/** The impact if the finding is real; independent of the outcome. */
export type Severity = 'low' | 'medium' | 'high' | 'critical';

/** What the data path needs decides what is required and what is too much (checks catalogue §3). */
export type ProfileName = 'base' | 'gpu' | 'nixl-rdma' | 'gds' | 'dev';

export const profileNames: readonly ProfileName[] = ['base', 'gpu', 'nixl-rdma', 'gds', 'dev'];

/** Where in a file a finding comes from (1-based line and column). */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** The object a manifest finding is about, or the thing a runtime finding is about. */
export interface Subject {
  kind?: string;
  namespace?: string;
  name?: string;
  container?: string;
  /** A path, device or variable name, for runtime checks. */
  resource?: string;
}

/** One check instance. */
export interface CheckResult {
  /** Catalogue id, e.g. `RT-CAP-02` (runtime) or `ST-K8S-03` (static). */
  id: string;
  title: string;
  status: CheckStatus;
  severity: Severity;
  /** The raw lines that decided, secrets redacted. */
  evidence: string[];
  /** Why the data path cares. */
  why: string;
  /** The exact docker flag or Kubernetes field that fixes it; absent on PASS. */
  remedy?: string;
  subject?: Subject;
  location?: SourceLocation;
  /** Present when a suppression with a reason matched; the status is then INFO. */
  suppressed?: { reason: string; originalStatus: CheckStatus };
  /** Cross-references, e.g. `PSS:baseline/capabilities`, `CIS-Docker:5.5`. */
  anchors?: string[];
}

/** Something that could not be evaluated at all (unreadable /proc, unparsable manifest). */
export interface EvaluationError {
  message: string;
  code: string;
  location?: SourceLocation;
}

/** A whole run: what `preflight` or `lint` returns and renders. */
export interface Report {
  schema: 'dynamo-memory/security-report';
  schemaVersion: 1;
  kind: 'preflight' | 'lint';
  profile: ProfileName;
  generatedAt: string;
  toolVersion: string;
  results: CheckResult[];
  errors: EvaluationError[];
}

/** Which statuses make the exit code 1. */
export type FailOn = 'fail' | 'warn';

/**
 * The exit code of a report: 2 when something could not be evaluated, 1 when a check failed
 * (or warned, with `failOn: 'warn'`), else 0. Suppressed results never fail a run.
 */
export function reportExitCode(report: Report, failOn: FailOn = 'fail'): 0 | 1 | 2 {
  if (report.errors.length > 0) return 2;
  const failing = report.results.some(
    (result) => result.status === 'FAIL' || (failOn === 'warn' && result.status === 'WARN'),
  );
  return failing ? 1 : 0;
}
