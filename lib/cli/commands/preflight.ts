/**
 * `dynamo-memory preflight`: the runtime security check of this container for the data path.
 * Exit codes: 0 pass, 1 a failing check (or a warning with `--fail-on warn`), 2 could not
 * evaluate, 3 usage error.
 */
import { Option } from 'commander';

import { preflight } from '../../security/preflight.js';
import { type ReportFormat, reportFormats } from '../../security/render.js';
import { type FailOn, type ProfileName, profileNames } from '../../security/report.js';
import { parseSuppressions } from '../../security/suppress.js';
import { sizeOption } from '../file-checks.js';
import { reportFormatOf, writeReport } from '../security-output.js';
import type { DefineCommand } from './index.js';

interface PreflightCliOptions {
  profile: ProfileName;
  dataDir?: string;
  pinned?: string;
  format?: ReportFormat;
  failOn: FailOn;
  ignore: string[];
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export const definePreflight: DefineCommand = (program, wrap) => {
  program
    .command('preflight')
    .description(
      'check this container for the data path: what it lacks and what it should not have',
    )
    .addOption(
      new Option('--profile <profile>', 'what the data path needs')
        .choices(profileNames)
        .default('base'),
    )
    .option('--data-dir <dir>', 'directory the data path writes with O_DIRECT (probed for real)')
    .option(
      '--pinned <bytes>',
      'host memory the service will pin, e.g. 8GiB (judged against memlock and cgroup)',
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
    .option('--ignore <ID=REASON>', 'accept a finding, with the reason (repeatable)', collect, [])
    .action(
      wrap('preflight', async (context, _args, raw) => {
        const options = raw as unknown as PreflightCliOptions;
        const format = reportFormatOf(context, options.format);
        const suppressions = parseSuppressions(options.ignore);
        const pinnedBytes =
          options.pinned === undefined ? undefined : sizeOption('--pinned', options.pinned, 0);
        const report = await preflight({
          profile: options.profile,
          ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
          ...(pinnedBytes !== undefined ? { pinnedBytes } : {}),
          suppressions,
          env: context.io.env,
          failOn: options.failOn,
        });
        return writeReport(context, 'preflight', report, format, options.failOn, suppressions);
      }),
    );
};
