/**
 * Finds the pod templates in Kubernetes objects: Pods, the controllers that embed one, and
 * Dynamo's DynamoGraphDeployment and DynamoComponentDeployment resources (both API versions),
 * and turns each into a WorkloadModel. Kinds without pods are counted and skipped; unknown kinds
 * get an INFO finding, and are still checked when they have a `spec.template.spec`.
 */
import type { CheckResult, SourceLocation, Subject } from '../report.js';

import { finding } from './catalogue.js';
import { emptyWorkload, type Located, type WorkloadModel } from './model.js';
import { readContainer, readPodSpec } from './pod-spec.js';
import { parseQuantity } from './quantity.js';
import type { LoadedDocument, Node, NodeReader } from './yaml.js';

/** What one document holds. */
export interface Extracted {
  workloads: WorkloadModel[];
  findings: CheckResult[];
  /** Kubernetes objects seen, with or without pods. */
  objects: number;
}

/** Pod-bearing kinds and where their pod template sits. */
const templatePaths: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  PodTemplate: ['template'],
};

/** Kinds that carry no containers: counted, not reported. */
const podlessKinds = new Set([
  'Service',
  'ConfigMap',
  'Secret',
  'Namespace',
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'ClusterRole',
  'ClusterRoleBinding',
  'Ingress',
  'IngressClass',
  'PersistentVolumeClaim',
  'PersistentVolume',
  'StorageClass',
  'NetworkPolicy',
  'HorizontalPodAutoscaler',
  'PodDisruptionBudget',
  'PriorityClass',
  'LimitRange',
  'ResourceQuota',
  'CustomResourceDefinition',
  'RuntimeClass',
  'ResourceClaim',
  'ResourceClaimTemplate',
  'DeviceClass',
  'ClusterPolicy',
  'NVIDIADriver',
  'DynamoGraphDeploymentRequest',
  'DynamoGraphDeploymentScalingAdapter',
  'DynamoModel',
]);

/** Extracts the workloads of one YAML document. */
export function extractWorkloads(doc: LoadedDocument): Extracted {
  const out: Extracted = { workloads: [], findings: [], objects: 0 };
  visitObject(doc.reader, doc.root, out);
  return out;
}

function visitObject(r: NodeReader, root: Node, out: Extracted): void {
  const location = r.loc(root);
  if (!r.isMap(root)) {
    out.findings.push(
      finding('ST-INPUT-02', 'WARN', {
        evidence: ['the document is not a mapping'],
        why: 'a Kubernetes object is a mapping with apiVersion and kind',
        ...(location ? { location } : {}),
      }),
    );
    return;
  }
  const kind = r.string(r.get(root, 'kind'))?.value;
  if (kind === 'List' || (kind?.endsWith('List') && r.isSeq(r.get(root, 'items')))) {
    for (const item of r.items(r.get(root, 'items'))) visitObject(r, item, out);
    return;
  }

  out.objects += 1;
  const subject = subjectOf(r, root, kind);
  if (!kind) {
    out.findings.push(
      finding('ST-INPUT-02', 'WARN', {
        evidence: ['no kind field'],
        why: 'without a kind the object cannot be recognised',
        subject,
        ...(location ? { location } : {}),
      }),
    );
    return;
  }

  const apiVersion = r.string(r.get(root, 'apiVersion'))?.value;
  const base = { r, root, subject, apiVersion, out };
  if (kind === 'Pod') {
    addWorkload(base, r.get(root, 'metadata'), r.get(root, 'spec'), 'spec');
  } else if (templatePaths[kind]) {
    const path = templatePaths[kind];
    const template = r.path(root, ...path);
    addWorkload(
      base,
      r.get(template, 'metadata'),
      r.get(template, 'spec'),
      `${path.join('.')}.spec`,
    );
  } else if (kind === 'DynamoGraphDeployment') {
    extractGraph(base);
  } else if (kind === 'DynamoComponentDeployment') {
    const spec = r.get(root, 'spec');
    addComponent(base, spec, 'spec', subject.name ?? 'component', []);
  } else if (!podlessKinds.has(kind)) {
    const template = r.path(root, 'spec', 'template');
    const checked = r.isMap(r.get(template, 'spec'));
    out.findings.push(
      finding('ST-INPUT-02', 'INFO', {
        evidence: [`kind: ${kind}${apiVersion ? ` (${apiVersion})` : ''}`],
        why: checked
          ? 'unknown kind with a spec.template.spec: checked as a pod template'
          : 'unknown kind without a pod template: not checked',
        subject,
        ...(location ? { location } : {}),
      }),
    );
    if (checked)
      addWorkload(base, r.get(template, 'metadata'), r.get(template, 'spec'), 'spec.template.spec');
  }
}

interface ObjectContext {
  r: NodeReader;
  root: Node;
  subject: Subject;
  apiVersion: string | undefined;
  out: Extracted;
}

function subjectOf(r: NodeReader, root: Node, kind: string | undefined): Subject {
  const metadata = r.get(root, 'metadata');
  const name = r.string(r.get(metadata, 'name'))?.value;
  const namespace = r.string(r.get(metadata, 'namespace'))?.value;
  return {
    ...(kind ? { kind } : {}),
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
  };
}

function annotationsOf(r: NodeReader, metadata: Node, into: Map<string, Located<string>>): void {
  for (const [key, loc, value] of r.entries(r.get(metadata, 'annotations'))) {
    into.set(key, { value: r.string(value)?.value ?? '', loc });
  }
}

function newWorkload(ctx: ObjectContext, subject: Subject, loc: SourceLocation | undefined) {
  const workload = emptyWorkload('kubernetes', subject, loc ?? ctx.r.at(0));
  if (ctx.apiVersion) workload.apiVersion = ctx.apiVersion;
  annotationsOf(ctx.r, ctx.r.get(ctx.root, 'metadata'), workload.annotations);
  return workload;
}

function addWorkload(ctx: ObjectContext, podMeta: Node, spec: Node, specPath: string): void {
  const workload = newWorkload(ctx, ctx.subject, ctx.r.loc(ctx.root));
  annotationsOf(ctx.r, podMeta, workload.annotations);
  if (!ctx.r.isMap(spec)) {
    ctx.out.findings.push(
      finding('ST-INPUT-01', 'WARN', {
        evidence: [`${specPath} is missing or not a mapping`],
        subject: ctx.subject,
        location: workload.loc,
      }),
    );
    return;
  }
  readPodSpec(ctx.r, spec, specPath, workload);
  ctx.out.workloads.push(workload);
}

/**
 * A DynamoGraphDeployment: v1beta1 lists `spec.components` (each with a `podTemplate`);
 * v1alpha1 maps `spec.services.<name>` to a shared spec with `extraPodSpec` and friends.
 */
function extractGraph(ctx: ObjectContext): void {
  const { r, root } = ctx;
  const spec = r.get(root, 'spec');
  const graphEnv = [...r.items(r.get(spec, 'envs')), ...r.items(r.get(spec, 'env'))];
  const components = r.get(spec, 'components');
  if (r.isSeq(components)) {
    r.items(components).forEach((component, index) => {
      const name = r.string(r.get(component, 'name'))?.value ?? `components[${index}]`;
      addComponent(ctx, component, `spec.components[${index}]`, name, graphEnv);
    });
    return;
  }
  const services = r.get(spec, 'services');
  for (const [name, , service] of r.entries(services)) {
    addComponent(ctx, service, `spec.services.${name}`, name, graphEnv);
  }
  if (!r.isMap(services)) {
    ctx.out.findings.push(
      finding('ST-INPUT-01', 'WARN', {
        evidence: ['neither spec.components (v1beta1) nor spec.services (v1alpha1) found'],
        subject: ctx.subject,
        ...(r.loc(root) ? { location: r.loc(root)! } : {}),
      }),
    );
  }
}

/**
 * One Dynamo component (a DGD service/component or a DCD spec). v1beta1 carries a native
 * `podTemplate`; v1alpha1 spreads the pod over `extraPodSpec` (+ `mainContainer`), `envs`,
 * `envFromSecret`, `resources` and `sharedMemory`.
 */
function addComponent(
  ctx: ObjectContext,
  component: Node,
  path: string,
  name: string,
  graphEnv: Node[],
): void {
  const { r } = ctx;
  const subject: Subject = {
    ...ctx.subject,
    name: ctx.subject.kind === 'DynamoGraphDeployment' ? `${ctx.subject.name ?? ''}/${name}` : name,
  };
  const workload = newWorkload(ctx, subject, r.loc(component) ?? r.loc(ctx.root));
  // the operator sets these when they are unset: the image's user (UID 1000, GID 0), fsGroup,
  // probes, and an 8 GiB /dev/shm
  for (const field of ['runAsUser', 'fsGroup', 'probes', 'shm']) {
    workload.operatorDefaults.add(field);
  }
  const type = r.string(r.get(component, 'type')) ?? r.string(r.get(component, 'componentType'));
  if (type) workload.componentType = type.value;

  const podTemplate = r.get(component, 'podTemplate');
  if (r.isMap(podTemplate)) {
    annotationsOf(r, r.get(podTemplate, 'metadata'), workload.annotations);
    readPodSpec(r, r.get(podTemplate, 'spec'), `${path}.podTemplate.spec`, workload);
    const main = workload.containers.find((c) => c.name === 'main') ?? workload.containers[0];
    if (main) prependEnv(r, graphEnv, main);
  } else {
    const extra = r.get(component, 'extraPodSpec');
    annotationsOf(r, r.get(component, 'annotations'), workload.annotations);
    annotationsOf(r, r.get(component, 'extraPodMetadata'), workload.annotations);
    if (r.isMap(extra)) readPodSpec(r, extra, `${path}.extraPodSpec`, workload);
    const mainNode = r.get(extra, 'mainContainer');
    const main = readContainer(
      r,
      mainNode ?? component,
      `${path}.extraPodSpec.mainContainer`,
      'container',
      workload,
    );
    if (!mainNode) main.name = 'main';
    main.name ||= 'main';
    prependEnv(r, [...graphEnv, ...r.items(r.get(component, 'envs'))], main);
    const fromSecret = r.string(r.get(component, 'envFromSecret'));
    if (fromSecret) main.envFromSecrets.push(fromSecret);
    readDynamoResources(r, r.get(component, 'resources'), main);
    workload.containers.unshift(main);
    const shm = r.get(component, 'sharedMemory');
    if (r.boolean(r.get(shm, 'disabled'))?.value === true) workload.operatorDefaults.delete('shm');
  }
  const shmSize = r.string(r.get(component, 'sharedMemorySize'));
  if (shmSize?.value === '0') workload.operatorDefaults.delete('shm');
  ctx.out.workloads.push(workload);
}

function prependEnv(r: NodeReader, nodes: Node[], container: WorkloadModel['containers'][0]) {
  const env = nodes.map((node) => {
    const name = r.string(r.get(node, 'name'))?.value ?? '';
    const value = r.string(r.get(node, 'value'))?.value;
    const from = r.entries(r.get(node, 'valueFrom'))[0]?.[0];
    const loc = r.loc(node);
    return {
      name,
      ...(value !== undefined ? { value } : {}),
      ...(from ? { from } : {}),
      ...(loc ? { loc } : {}),
    };
  });
  const own = new Set(container.env.map((entry) => entry.name));
  container.env.unshift(...env.filter((entry) => !own.has(entry.name)));
}

/** v1alpha1 `resources: { requests|limits: { cpu, memory, gpu, custom } }`. */
function readDynamoResources(
  r: NodeReader,
  resources: Node,
  container: WorkloadModel['containers'][0],
) {
  for (const side of ['limits', 'requests']) {
    const node = r.get(resources, side);
    const gpu = r.number(r.get(node, 'gpu'), `resources.${side}.gpu`);
    if (gpu && container.gpus === undefined) container.gpus = gpu;
    const memory = r.string(r.get(node, 'memory'), `resources.${side}.memory`);
    if (memory && side === 'limits') {
      const bytes = parseQuantityLocated(memory);
      if (bytes) container.memoryLimit = bytes;
    }
    for (const [name, , value] of r.entries(r.get(node, 'custom'))) {
      const text = r.string(value, `resources.${side}.custom.${name}`);
      container.extendedResources.push({ value: name, ...(text?.loc ? { loc: text.loc } : {}) });
    }
  }
}

function parseQuantityLocated(text: Located<string>): Located<number> | undefined {
  const bytes = parseQuantity(text.value);
  if (bytes === undefined) return undefined;
  return {
    value: bytes,
    ...(text.loc ? { loc: text.loc } : {}),
    ...(text.text ? { text: text.text } : {}),
  };
}
