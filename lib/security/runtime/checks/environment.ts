/**
 * Environment (catalogue §4.7): loader and runtime injection, secret-looking variables (always
 * redacted: name, length and a hash prefix), NVIDIA toolkit variables, and the audit sink.
 */
import path from 'node:path';

import { isSecretName, isSecretValue, redactedValue, showVariable } from '../../redact.js';
import type { CheckResult, CheckStatus } from '../../report.js';
import { type CheckSpec, result, type RuntimeContext } from '../context.js';
import { worst } from './mounts.js';

const injection: CheckSpec = {
  id: 'RT-ENV-01',
  title: 'No loader or runtime code injection',
  severity: 'critical',
  why: 'A preloaded library or a --require module runs inside this process and sees every pinned buffer and every key.',
  anchors: ['CDK:sensitive-env'],
};

/** NODE_OPTIONS flags that load code before the application. */
const codeLoadingFlag =
  /(?:^|\s)(?:--require|-r|--import|--loader|--experimental-loader)(?:[=\s]|$)/;

/** RT-ENV-01: LD_PRELOAD, LD_AUDIT, /etc/ld.so.preload, NODE_OPTIONS; search paths as WARN. */
export function checkInjection(ctx: RuntimeContext): CheckResult[] {
  let status: CheckStatus = 'PASS';
  const evidence: string[] = [];
  const flag = (verdict: CheckStatus, line: string): void => {
    status = worst(status, verdict);
    evidence.push(line);
  };

  for (const name of ['LD_PRELOAD', 'LD_AUDIT']) {
    const value = ctx.env[name];
    if (value !== undefined && value.trim() !== '') flag('FAIL', showVariable(name, value));
  }
  const preload = ctx.view.read('/etc/ld.so.preload');
  if (preload.ok && preload.value.trim() !== '') {
    flag('FAIL', `/etc/ld.so.preload: ${preload.value.trim().split('\n').join(', ')}`);
  }
  const nodeOptions = ctx.env.NODE_OPTIONS;
  if (nodeOptions !== undefined && codeLoadingFlag.test(nodeOptions)) {
    flag('FAIL', showVariable('NODE_OPTIONS', nodeOptions));
  }
  for (const name of ['LD_LIBRARY_PATH', 'NODE_PATH', 'PYTHONPATH']) {
    const value = ctx.env[name];
    if (value === undefined || value === '') continue;
    const risky = value.split(':').filter((entry) => entry === '' || !path.isAbsolute(entry));
    if (risky.length > 0) {
      flag(
        'WARN',
        `${showVariable(name, value)}: empty or relative entries search the working directory`,
      );
    }
  }
  return [
    result(injection, {
      status,
      evidence:
        evidence.length > 0
          ? evidence
          : ['no LD_PRELOAD, LD_AUDIT, /etc/ld.so.preload or code-loading NODE_OPTIONS'],
      remedy:
        'remove LD_PRELOAD / LD_AUDIT (docker -e, Kubernetes env) and /etc/ld.so.preload from the image; ' +
        'no --require/--import in NODE_OPTIONS; use absolute library paths',
    }),
  ];
}

const secrets: CheckSpec = {
  id: 'RT-ENV-03',
  title: 'No secrets in the environment',
  severity: 'medium',
  why: 'Environment variables leak through /proc/<pid>/environ, crash dumps and child processes.',
  anchors: ['kube-linter:env-var-secret', 'Polaris:sensitiveContainerEnvVar'],
};

/** RT-ENV-03: secret-looking names or values, shown redacted. */
export function checkSecrets(ctx: RuntimeContext): CheckResult[] {
  const found = Object.entries(ctx.env)
    .filter(([name, value]) => value && (isSecretName(name) || isSecretValue(value)))
    .map(([name, value]) => `${name}=${redactedValue(value!)}`)
    .sort();
  return [
    result(secrets, {
      status: found.length > 0 ? 'WARN' : 'PASS',
      evidence: found.length > 0 ? found : ['no secret-looking variables'],
      remedy: 'mount secrets as files (Kubernetes secret volume) instead of environment variables',
    }),
  ];
}

/** RT-ENV-04: NVIDIA toolkit variables, only when set. */
export function checkNvidiaEnv(ctx: RuntimeContext): CheckResult[] {
  const names = Object.keys(ctx.env).filter((name) =>
    /^NVIDIA_(VISIBLE_DEVICES|DRIVER_CAPABILITIES|GDS|MOFED|MIG_)/.test(name),
  );
  if (names.length === 0) return [];
  const all = ctx.env.NVIDIA_DRIVER_CAPABILITIES?.split(',').includes('all') === true;
  return [
    result(
      {
        id: 'RT-ENV-04',
        title: 'NVIDIA toolkit variables',
        severity: 'low',
        why: 'Least privilege for the driver surfaces the toolkit injects: graphics, display and video are not needed.',
      },
      {
        status: all ? 'WARN' : 'INFO',
        evidence: names.sort().map((name) => showVariable(name, ctx.env[name] ?? '')),
        remedy: 'NVIDIA_DRIVER_CAPABILITIES=compute,utility',
      },
    ),
  ];
}
