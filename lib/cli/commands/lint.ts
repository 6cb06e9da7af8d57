/**
 * `dynamo-memory lint FILE... | -`: the security checks applied to Kubernetes manifests and
 * `docker run` lines before deploy. Exit codes: 0 pass, 1 a failing check (or a warning with
 * `--fail-on warn`), 2 an input could not be evaluated (or held no workload), 3 usage error.
 */
import { Option } from 'commander';

import { lint } from '../../security/lint.js';
import { type ReportFormat, reportFormats } from '../../security/render.js';
import { type FailOn, type ProfileName, profileNames } from '../../security/report.js';
import { parseSuppressions } from '../../security/suppress.js';
import { sizeOption } from '../file-checks.js';
import { reportFormatOf, writeReport } from '../security-output.js';
import type { DefineCommand } from './index.js';

interface LintCliOptions {
  profile: ProfileName;
  pinned?: string;
  format?: ReportFormat;
  failOn: FailOn;
  allowEmpty?: boolean;
  ignore: string[];
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export const defineLint: DefineCommand = (program, wrap) => {
  program
    .command('lint')
    .description(
      'check Kubernetes manifests and docker run lines for the data path before deploy (- reads stdin)',
    )
    .argument('<files...>', 'YAML/JSON manifests, shell scripts or files with docker run lines')
    .addOption(
      new Option('--profile <profile>', 'what the data path needs')
        .choices(profileNames)
        .default('base'),
    )
    .option(
      '--pinned <bytes>',
      'host memory the service will pin, e.g. 8GiB (judged against memory limits and memlock)',
    )
    .addOption(
      new Option('--format <format>', 'output format (--json is --format json)').choices(
        reportFormats,
      ),
    )
    .addOption(
      new Option('--fail-on <level>', 'exit 1 on this status or worse')
        .choices(['fail', 'warn'])
        .default('fail'),
    )
    .option('--allow-empty', 'exit 0 when the inputs hold no workload at all')
    .option(
      '--ignore <ID=REASON>',
      'accept a finding everywhere, with the reason (repeatable)',
      collect,
      [],
    )
    .action(
      wrap('lint', async (context, args, raw) => {
        const options = raw as unknown as LintCliOptions;
        const format = reportFormatOf(context, options.format);
        const suppressions = parseSuppressions(options.ignore);
        const pinnedBytes =
          options.pinned === undefined ? undefined : sizeOption('--pinned', options.pinned, 0);
        const report = await lint(args, {
          profile: options.profile,
          ...(pinnedBytes !== undefined ? { pinnedBytes } : {}),
          allowEmpty: options.allowEmpty === true,
          suppressions,
        });
        return writeReport(context, 'lint', report, format, options.failOn, suppressions);
      }),
    );
};
