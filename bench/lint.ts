/**
 * Lint: a 5,000-object manifest stream (Deployments, StatefulSets, Jobs, Pods and Dynamo
 * DynamoGraphDeployments in turn, each with a few containers, volumes and env), linted in
 * process with profile gds. Baseline in the same run: parsing the same stream with the `yaml`
 * package alone (`parseAllDocuments`), which lint cannot beat since it parses the same way.
 * Goal: the whole lint under 2 s, i.e. "lint ms" below 2000.
 * `npm run bench -- lint [objects]`.
 */
import { parseAllDocuments } from 'yaml';
import { Bench } from 'tinybench';

import { lintSources } from '../lib/security/lint.js';

function podSpec(i: number, indent: string): string {
  return [
    `securityContext: { runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 }`,
    `volumes:`,
    `  - { name: udev, hostPath: { path: /run/udev, type: Directory } }`,
    `  - { name: shm, emptyDir: { medium: Memory, sizeLimit: 8Gi } }`,
    `containers:`,
    `  - name: main`,
    `    image: registry.example.com/dynamo/vllm-runtime:0.6.${i % 10}`,
    `    securityContext:`,
    `      allowPrivilegeEscalation: false`,
    `      capabilities: { drop: [ALL], add: [IPC_LOCK] }`,
    `    env:`,
    `      - { name: DYN_KVBM_CPU_CACHE_GB, value: "${8 + (i % 8)}" }`,
    `      - { name: NVIDIA_GDS, value: enabled }`,
    `    resources: { limits: { nvidia.com/gpu: 1, memory: 64Gi } }`,
    `    volumeMounts:`,
    `      - { name: udev, mountPath: /run/udev, readOnly: true }`,
    `      - { name: shm, mountPath: /dev/shm }`,
    `  - name: sidecar`,
    `    image: registry.example.com/metrics:1.${i % 5}.0`,
    `    env: [{ name: LOG_LEVEL, value: info }]`,
  ]
    .map((line) => indent + line)
    .join('\n');
}

/** The i-th object of the stream. */
function object(i: number): string {
  const meta = `metadata: { name: obj-${i}, namespace: bench }`;
  switch (i % 5) {
    case 0:
      return `apiVersion: v1\nkind: Pod\n${meta}\nspec:\n${podSpec(i, '  ')}`;
    case 1:
    case 2:
      return `apiVersion: apps/v1\nkind: ${i % 5 === 1 ? 'Deployment' : 'StatefulSet'}\n${meta}\nspec:\n  template:\n    spec:\n${podSpec(i, '      ')}`;
    case 3:
      return `apiVersion: batch/v1\nkind: Job\n${meta}\nspec:\n  template:\n    spec:\n${podSpec(i, '      ')}`;
    default:
      return `apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\n${meta}\nspec:\n  components:\n    - name: decode\n      type: decode\n      podTemplate:\n        spec:\n${podSpec(i, '          ')}`;
  }
}

export async function run(args: string[]): Promise<void> {
  const count = Number(args[0] ?? 5000);
  const text = Array.from({ length: count }, (_, i) => object(i)).join('\n---\n');
  const source = [{ name: 'stream.yaml', text }];

  const bench = new Bench({ iterations: 5, time: 0, warmupIterations: 1 });
  bench
    .add('yaml parseAllDocuments (baseline)', () => {
      parseAllDocuments(text);
    })
    .add('lintSources, profile gds', () => {
      lintSources(source, { profile: 'gds' });
    });
  await bench.run();

  const meanMs = (name: string) =>
    (bench.getTask(name)?.result as { latency?: { mean: number } } | undefined)?.latency?.mean ??
    NaN;
  const parse = meanMs('yaml parseAllDocuments (baseline)');
  const whole = meanMs('lintSources, profile gds');
  const report = lintSources(source, { profile: 'gds' });
  console.table([
    {
      objects: count,
      'stream MiB': (text.length / 1024 / 1024).toFixed(1),
      results: report.results.length,
      'parse ms': parse.toFixed(0),
      'lint ms': whole.toFixed(0),
      'lint / parse': (whole / parse).toFixed(2),
    },
  ]);
  console.log(`Goal: "lint ms" < 2000 for 5,000 objects (${whole < 2000 ? 'met' : 'NOT met'}).`);
}
