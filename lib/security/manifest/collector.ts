/** What every static check shares: the workload, the profile and where results go. */
import type { ProfilePolicy } from '../profiles.js';
import type { CheckResult, CheckStatus, SourceLocation, Subject } from '../report.js';

import { finding, type StaticCheckId } from './catalogue.js';
import { effective, type ContainerModel, type Located, type WorkloadModel } from './model.js';

/** Options of one static run. */
export interface StaticOptions {
  profile: ProfilePolicy;
  /** Bytes of host memory the service pins; defaults to `DYN_KVBM_CPU_CACHE_GB` when set. */
  pinnedBytes?: number;
}

/** The instance details of one result. */
export interface Detail {
  container?: ContainerModel;
  resource?: string;
  evidence?: string[];
  why?: string;
  remedy?: string;
  loc?: SourceLocation;
}

/** Collects the results of the checks on one workload. */
export class Collector {
  readonly results: CheckResult[] = [];

  constructor(
    readonly workload: WorkloadModel,
    readonly options: StaticOptions,
  ) {}

  get profile(): ProfilePolicy {
    return this.options.profile;
  }

  /** Adds one result; the location falls back from the field to the container to the object. */
  add(id: StaticCheckId, status: CheckStatus, detail: Detail = {}): void {
    const { container } = detail;
    const subject: Subject = { ...this.workload.subject };
    if (container?.name) subject.container = container.name;
    if (detail.resource) subject.resource = detail.resource;
    const location =
      detail.loc ??
      container?.securityLoc ??
      container?.loc ??
      this.workload.specLoc ??
      this.workload.loc;
    this.results.push(
      finding(id, status, {
        subject,
        location,
        ...(detail.evidence ? { evidence: detail.evidence } : {}),
        ...(detail.why ? { why: detail.why } : {}),
        ...(detail.remedy ? { remedy: detail.remedy } : {}),
      }),
    );
  }
}

/** Whether the workload carries the data path (a Dynamo frontend, planner or EPP does not). */
export function isDataPath(c: Collector): boolean {
  const type = c.workload.componentType?.toLowerCase();
  return !(type && ['frontend', 'planner', 'epp'].includes(type));
}

/** The evidence text of a located value. */
export function shown(value: Located<unknown>): string {
  return value.text ?? String(value.value);
}

/** The user a container runs as, as far as the manifest says. */
export interface UserView {
  user?: Located<number | string>;
  nonRoot?: Located<boolean>;
  /** True when the user is known to be root, false when known not to be, else undefined. */
  root: boolean | undefined;
}

/** Whether a user value means root (`0`, `root`). */
export function isRootUser(value: number | string): boolean {
  return value === 0 || value === '0' || value === 'root';
}

/** Works out the effective user of a container (container fields override the pod's). */
export function userOf(workload: WorkloadModel, container: ContainerModel): UserView {
  const user = effective(workload, container, 'runAsUser');
  const nonRoot = effective(workload, container, 'runAsNonRoot');
  let root: boolean | undefined;
  if (user !== undefined && !String(user.value).includes('$')) root = isRootUser(user.value);
  else if (user !== undefined && nonRoot?.value === true) root = false;
  else if (nonRoot?.value === true) root = false;
  return {
    ...(user ? { user } : {}),
    ...(nonRoot ? { nonRoot } : {}),
    root,
  };
}

/**
 * The pinned host memory this container is configured for: the `pinnedBytes` option, else
 * `DYN_KVBM_CPU_CACHE_GB` (KVBM's pinned CPU tier, in GiB) from its environment. Nothing for
 * components that do not carry the data path (a Dynamo frontend inherits the graph's env).
 */
export function pinnedBytesOf(
  c: Collector,
  container: ContainerModel,
): Located<number> | undefined {
  const options = c.options;
  if (!isDataPath(c)) return undefined;
  if (options.pinnedBytes !== undefined) {
    return { value: options.pinnedBytes, text: `--pinned ${options.pinnedBytes}` };
  }
  const entry = container.env.find((env) => env.name === 'DYN_KVBM_CPU_CACHE_GB');
  const gib = entry?.value === undefined ? NaN : Number(entry.value);
  if (!Number.isFinite(gib) || gib <= 0) return undefined;
  return {
    value: Math.round(gib * 1024 ** 3),
    ...(entry!.loc ? { loc: entry!.loc } : {}),
    text: `DYN_KVBM_CPU_CACHE_GB=${entry!.value}`,
  };
}

/** Whether the container asks for RDMA: a resource, a verbs device, or UCX over InfiniBand. */
export function wantsRdma(workload: WorkloadModel, container: ContainerModel): string | undefined {
  const resource = container.extendedResources.find((entry) =>
    /^rdma\/|^nvidia\.com\/(hostdev|rdma)|^mellanox\.com\//.test(entry.value),
  );
  if (resource) return `resource ${resource.value}`;
  const device = container.devices.find((entry) => entry.value.startsWith('/dev/infiniband'));
  if (device) return `device ${device.value}`;
  const hostPath = workload.volumes.find((volume) =>
    volume.hostPath?.startsWith('/dev/infiniband'),
  );
  if (hostPath) return `hostPath ${hostPath.hostPath}`;
  // a leading ^ makes UCX_TLS an exclusion list
  const ucx = container.env.find(
    (env) =>
      env.name === 'UCX_TLS' &&
      !(env.value ?? '').startsWith('^') &&
      /(^|,)(ib|rc|rc_x|rc_v|rc_mlx5|dc|dc_x|dc_mlx5|ud|ud_x|ud_v)(,|$)/.test(env.value ?? ''),
  );
  if (ucx) return `UCX_TLS=${ucx.value}`;
  return undefined;
}

/** Status that is the worse of two. */
export function worst(a: CheckStatus, b: CheckStatus): CheckStatus {
  const order: CheckStatus[] = ['SKIP', 'PASS', 'INFO', 'WARN', 'FAIL'];
  return order.indexOf(a) >= order.indexOf(b) ? a : b;
}
