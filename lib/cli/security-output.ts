/** What `preflight` and `lint` share: choosing the format and writing the report. */
import { renderReport, type ReportFormat } from '../security/render.js';
import { type FailOn, type Report, reportExitCode } from '../security/report.js';
import { type CommandContext, UsageError } from './context.js';

/**
 * The output format: `--format`, else JSON with `--json`, else text.
 *
 * @throws {UsageError} `ERR_DMEM_INVALID_ARGUMENT` when `--json` and another `--format` are both
 *   given.
 */
export function reportFormatOf(
  context: CommandContext,
  format: ReportFormat | undefined,
): ReportFormat {
  if (context.json && format !== undefined && format !== 'json') {
    throw new UsageError(
      'ERR_DMEM_INVALID_ARGUMENT',
      `--json asks for JSON but --format asks for ${format}; give one of them`,
    );
  }
  return format ?? (context.json ? 'json' : 'text');
}

/**
 * Writes the report (coloured text on a terminal unless NO_COLOR is set), warns on stderr about
 * suppressions whose id matched no check (a typo would otherwise do nothing), and returns the
 * exit code.
 */
export function writeReport(
  context: CommandContext,
  command: string,
  report: Report,
  format: ReportFormat,
  failOn: FailOn,
  suppressions: ReadonlyMap<string, string>,
): number {
  const ids = new Set(report.results.map((result) => result.id));
  for (const id of suppressions.keys()) {
    if (!ids.has(id)) {
      context.warn(
        `dynamo-memory ${command}: warning: --ignore ${id} matched no check in this run`,
      );
    }
  }
  const color =
    format === 'text' && context.io.stdout.isTTY === true && context.io.env.NO_COLOR === undefined;
  context.io.stdout.write(renderReport(report, format, { color }));
  return reportExitCode(report, failOn);
}
