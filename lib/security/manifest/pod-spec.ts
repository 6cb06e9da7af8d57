/**
 * Reads a Kubernetes PodSpec and its containers into the workload model, keeping the location
 * and the field path of every value for evidence.
 */
import type { ContainerModel, Located, SecurityFields, WorkloadModel } from './model.js';
import { emptyContainer } from './model.js';
import { parseQuantity } from './quantity.js';
import type { Node, NodeReader } from './yaml.js';

const containerLists = [
  ['initContainers', 'initContainer'],
  ['containers', 'container'],
  ['ephemeralContainers', 'ephemeralContainer'],
] as const;

/** Fills `workload` from a PodSpec node; containers are appended in init, main, ephemeral order. */
export function readPodSpec(
  r: NodeReader,
  spec: Node,
  path: string,
  workload: WorkloadModel,
): void {
  const specLoc = r.loc(spec);
  if (specLoc) workload.specLoc = specLoc;

  // host namespaces, OS, token
  const flag = (key: string) => r.boolean(r.get(spec, key), `${path}.${key}`);
  assign(workload, 'hostNetwork', flag('hostNetwork'));
  assign(workload, 'hostPID', flag('hostPID'));
  assign(workload, 'hostIPC', flag('hostIPC'));
  assign(workload, 'hostUsers', flag('hostUsers'));
  assign(workload, 'automountServiceAccountToken', flag('automountServiceAccountToken'));
  assign(workload, 'os', r.string(r.path(spec, 'os', 'name'), `${path}.os.name`));

  // pod security context
  const context = r.get(spec, 'securityContext');
  const contextPath = `${path}.securityContext`;
  readSecurityFields(r, context, contextPath, workload);
  assign(workload, 'fsGroup', r.number(r.get(context, 'fsGroup'), `${contextPath}.fsGroup`));
  r.items(r.get(context, 'supplementalGroups')).forEach((node, index) => {
    const group = r.number(node, `${contextPath}.supplementalGroups[${index}]`);
    if (group) workload.supplementalGroups.push(group);
  });
  r.items(r.get(context, 'sysctls')).forEach((node, index) => {
    const name = r.string(r.get(node, 'name'), `${contextPath}.sysctls[${index}].name`);
    if (name) workload.sysctls.push(name);
  });

  // volumes and claims
  r.items(r.get(spec, 'volumes')).forEach((node) => readVolume(r, node, workload));
  r.items(r.get(spec, 'resourceClaims')).forEach((node, index) => {
    const name = r.string(r.get(node, 'name'), `${path}.resourceClaims[${index}].name`);
    if (name) workload.resourceClaims.push(name);
  });

  for (const [key, role] of containerLists) {
    r.items(r.get(spec, key)).forEach((node, index) => {
      workload.containers.push(readContainer(r, node, `${path}.${key}[${index}]`, role, workload));
    });
  }
}

function readVolume(r: NodeReader, node: Node, workload: WorkloadModel): void {
  const name = r.string(r.get(node, 'name'))?.value ?? '';
  const type = r.entries(node).find(([key]) => key !== 'name')?.[0] ?? 'unknown';
  const loc = r.loc(node);
  const volume: WorkloadModel['volumes'][0] = { name, type, ...(loc ? { loc } : {}) };
  if (type === 'hostPath') {
    const hostPath = r.string(r.path(node, 'hostPath', 'path'))?.value;
    const hostPathType = r.string(r.path(node, 'hostPath', 'type'))?.value;
    if (hostPath !== undefined) volume.hostPath = hostPath;
    if (hostPathType !== undefined) volume.hostPathType = hostPathType;
  }
  if (type === 'emptyDir') {
    const medium = r.string(r.path(node, 'emptyDir', 'medium'))?.value;
    const size = r.string(r.path(node, 'emptyDir', 'sizeLimit'))?.value;
    if (medium) volume.medium = medium;
    const bytes = size === undefined ? undefined : parseQuantity(size);
    if (bytes !== undefined) volume.sizeLimit = bytes;
  }
  workload.volumes.push(volume);
}

/** Reads one Container node. */
export function readContainer(
  r: NodeReader,
  node: Node,
  path: string,
  role: ContainerModel['role'],
  workload: WorkloadModel,
): ContainerModel {
  const name = r.string(r.get(node, 'name'))?.value ?? '';
  const container = emptyContainer(name, role, r.loc(node));
  assign(container, 'image', r.string(r.get(node, 'image'), `${path}.image`));

  // security context
  const context = r.get(node, 'securityContext');
  const at = `${path}.securityContext`;
  container.securityLoc = r.loc(context) ?? container.loc ?? workload.loc;
  readSecurityFields(r, context, at, container);
  assign(container, 'privileged', r.boolean(r.get(context, 'privileged'), `${at}.privileged`));
  assign(
    container,
    'allowPrivilegeEscalation',
    r.boolean(r.get(context, 'allowPrivilegeEscalation'), `${at}.allowPrivilegeEscalation`),
  );
  assign(container, 'procMount', r.string(r.get(context, 'procMount'), `${at}.procMount`));
  assign(
    container,
    'readOnlyRootFilesystem',
    r.boolean(r.get(context, 'readOnlyRootFilesystem'), `${at}.readOnlyRootFilesystem`),
  );
  for (const side of ['add', 'drop'] as const) {
    r.items(r.path(context, 'capabilities', side)).forEach((item, index) => {
      const cap = r.string(item, `${at}.capabilities.${side}[${index}]`);
      if (cap) (side === 'add' ? container.capAdd : container.capDrop).push(cap);
    });
  }

  // environment
  r.items(r.get(node, 'env')).forEach((entry) => {
    const envName = r.string(r.get(entry, 'name'))?.value ?? '';
    const value = r.string(r.get(entry, 'value'))?.value;
    const from = r.entries(r.get(entry, 'valueFrom'))[0]?.[0];
    const loc = r.loc(entry);
    container.env.push({
      name: envName,
      ...(value !== undefined ? { value } : {}),
      ...(from ? { from } : {}),
      ...(loc ? { loc } : {}),
    });
  });
  r.items(r.get(node, 'envFrom')).forEach((entry, index) => {
    const secret = r.string(r.path(entry, 'secretRef', 'name'), `${path}.envFrom[${index}]`);
    if (secret) container.envFromSecrets.push(secret);
  });

  // mounts, resources, ports, probes
  r.items(r.get(node, 'volumeMounts')).forEach((mount) => {
    const loc = r.loc(mount);
    const propagation = r.string(r.get(mount, 'mountPropagation'))?.value;
    container.mounts.push({
      volume: r.string(r.get(mount, 'name'))?.value ?? '',
      target: r.string(r.get(mount, 'mountPath'))?.value ?? '',
      readOnly: r.boolean(r.get(mount, 'readOnly'))?.value === true,
      ...(propagation ? { propagation } : {}),
      ...(loc ? { loc } : {}),
    });
  });
  readResources(r, r.get(node, 'resources'), `${path}.resources`, container);
  r.items(r.get(node, 'ports')).forEach((port, index) => {
    const hostPort = r.number(r.get(port, 'hostPort'), `${path}.ports[${index}].hostPort`);
    if (hostPort && hostPort.value !== 0) container.hostPorts.push(hostPort);
  });
  readProbeHosts(r, node, path, container);
  return container;
}

function readSecurityFields(r: NodeReader, context: Node, at: string, into: SecurityFields): void {
  assign(into, 'runAsUser', r.number(r.get(context, 'runAsUser'), `${at}.runAsUser`));
  assign(into, 'runAsGroup', r.number(r.get(context, 'runAsGroup'), `${at}.runAsGroup`));
  assign(into, 'runAsNonRoot', r.boolean(r.get(context, 'runAsNonRoot'), `${at}.runAsNonRoot`));
  assign(
    into,
    'seccomp',
    r.string(r.path(context, 'seccompProfile', 'type'), `${at}.seccompProfile.type`),
  );
  assign(
    into,
    'appArmor',
    r.string(r.path(context, 'appArmorProfile', 'type'), `${at}.appArmorProfile.type`),
  );
  assign(
    into,
    'windowsHostProcess',
    r.boolean(r.path(context, 'windowsOptions', 'hostProcess'), `${at}.windowsOptions.hostProcess`),
  );
  const seLinux = r.get(context, 'seLinuxOptions');
  if (r.isMap(seLinux)) {
    const label: Record<string, string> = {};
    for (const key of ['type', 'user', 'role', 'level']) {
      const value = r.string(r.get(seLinux, key))?.value;
      if (value !== undefined) label[key] = value;
    }
    const loc = r.loc(seLinux);
    into.seLinux = {
      value: label,
      ...(loc ? { loc } : {}),
      text: `${at}.seLinuxOptions: ${JSON.stringify(label)}`,
    };
  }
}

function readResources(r: NodeReader, resources: Node, at: string, container: ContainerModel) {
  for (const side of ['limits', 'requests']) {
    for (const [name, , value] of r.entries(r.get(resources, side))) {
      const text = r.string(value, `${at}.${side}.${name}`);
      if (!text) continue;
      if (name === 'memory' && side === 'limits') {
        const bytes = parseQuantity(text.value);
        if (bytes !== undefined) container.memoryLimit = { ...text, value: bytes };
      } else if (name === 'nvidia.com/gpu' || /^nvidia\.com\/mig-/.test(name)) {
        const count = Number(text.value);
        if (container.gpus === undefined && Number.isFinite(count)) {
          container.gpus = { ...text, value: count };
        }
      } else if (
        !['cpu', 'memory', 'ephemeral-storage'].includes(name) &&
        !container.extendedResources.some((entry) => entry.value === name)
      ) {
        container.extendedResources.push({ ...text, value: name });
      }
    }
  }
}

function readProbeHosts(r: NodeReader, node: Node, path: string, container: ContainerModel) {
  const handlers: Array<[Node, string]> = [];
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    handlers.push([r.get(node, probe), `${path}.${probe}`]);
  }
  for (const hook of ['postStart', 'preStop']) {
    handlers.push([r.path(node, 'lifecycle', hook), `${path}.lifecycle.${hook}`]);
  }
  for (const [handler, at] of handlers) {
    for (const kind of ['httpGet', 'tcpSocket']) {
      const host = r.string(r.path(handler, kind, 'host'), `${at}.${kind}.host`);
      if (host && host.value !== '') container.probeHosts.push(host);
    }
  }
}

function assign<T extends object, K extends keyof T>(
  target: T,
  key: K,
  value: Located<unknown> | undefined,
): void {
  if (value !== undefined) target[key] = value as T[K];
}
