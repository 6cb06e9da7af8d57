import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { lintSources } from '../../../lib/security/lint.js';

import { fixture, findings, lintFixture, one, pick } from './helpers.js';

describe('lintSources() on Dynamo resources', () => {
  it('reads v1alpha1 services through extraPodSpec, mainContainer, envs and resources', () => {
    const report = lintFixture('manifests/dynamo-agg-v1alpha1.yaml', { profile: 'gds' });
    expect(report.errors).toEqual([]);
    const worker = { name: 'llm-agg/VllmDecodeWorker', container: 'main' };

    expect(one(report, { id: 'ST-CAP-01', ...worker, resource: 'IPC_LOCK' })).toMatchObject({
      status: 'PASS',
      location: { file: 'manifests/dynamo-agg-v1alpha1.yaml', line: 39, column: 21 },
    });
    expect(one(report, { id: 'ST-RES-02', name: worker.name }).status).toBe('PASS');
    // 48 GiB pinned by KVBM under a 64 GiB limit: 75 %, inside the headroom
    expect(one(report, { id: 'ST-RES-01', ...worker }).evidence).toEqual([
      'resources.limits.memory: 64Gi (64 GiB)',
      'pinned 48 GiB (DYN_KVBM_CPU_CACHE_GB=48)',
    ]);
    // the operator runs the image as UID 1000: IPC_LOCK will not be effective (B21)
    expect(one(report, { id: 'ST-CAP-04', ...worker }).status).toBe('WARN');
    expect(one(report, { id: 'ST-VOL-01', name: worker.name, resource: '/run/udev' }).status).toBe(
      'WARN',
    );
    expect(one(report, { id: 'ST-USR-01', ...worker }).why).toMatch(/UID 1000/);
  });

  it('does not hold a frontend to the data-path requirements', () => {
    const report = lintFixture('manifests/dynamo-agg-v1alpha1.yaml', { profile: 'gds' });
    const frontend = { name: 'llm-agg/Frontend' };
    expect(pick(report, { id: 'ST-CAP-03', ...frontend })).toEqual([]);
    expect(pick(report, { id: 'ST-RES-02', ...frontend })).toEqual([]);
    expect(pick(report, { id: 'ST-VOL-01', ...frontend, resource: '/run/udev' })).toEqual([]);
    expect(one(report, { id: 'ST-PSS-01', ...frontend }).evidence[0]).toBe('meets baseline');
  });

  it('passes a v1beta1 GDS component that mounts /run/udev read-only and drops ALL', () => {
    const report = lintFixture('manifests/dynamo-disagg-gds-v1beta1.yaml', { profile: 'gds' });
    const decode = { name: 'llm-disagg/decode' };
    expect(findings(report, (r) => r.subject?.name === decode.name)).toEqual([
      'ST-CAP-04 WARN',
      'ST-VOL-02 INFO',
      'ST-SA-01 INFO',
      'ST-PSS-01 INFO',
    ]);
    expect(one(report, { id: 'ST-VOL-01', ...decode, resource: '/run/udev' })).toMatchObject({
      status: 'PASS',
      location: { line: 29 },
    });
    expect(one(report, { id: 'ST-DEV-02', ...decode }).evidence).toEqual(['NVIDIA_GDS=enabled']);
    expect(one(report, { id: 'ST-FS-01', ...decode }).status).toBe('PASS');
    // graph-level env reaches the component: 16 GiB pinned under 24 GiB
    expect(one(report, { id: 'ST-RES-01', ...decode }).evidence[1]).toBe(
      'pinned 16 GiB (DYN_KVBM_CPU_CACHE_GB=16)',
    );
    const pss = one(report, { id: 'ST-PSS-01', ...decode });
    expect(pss.evidence).toEqual([
      'meets privileged',
      'baseline/hostPath: volume udev: hostPath /run/udev (line 29)',
      'baseline/capabilities: container "main" adds IPC_LOCK (line 42)',
    ]);
    expect(pss.why).toMatch(/pod-security.kubernetes.io\/enforce: privileged/);
  });

  it('ignores the graph env for a frontend component', () => {
    const report = lintFixture('manifests/dynamo-disagg-gds-v1beta1.yaml', { profile: 'gds' });
    const memory = one(report, { id: 'ST-RES-01', name: 'llm-disagg/frontend' });
    expect(memory.evidence).toEqual(['no memory limit']);
    expect(pick(report, { id: 'ST-CAP-03', name: 'llm-disagg/frontend' })).toEqual([]);
  });

  it('fails a component deployment that asks for RDMA without IPC_LOCK and adds SYS_ADMIN', () => {
    const report = lintFixture('manifests/dcd-v1beta1.yaml', { profile: 'nixl-rdma' });
    expect(one(report, { id: 'ST-CAP-01', resource: 'SYS_ADMIN' })).toMatchObject({
      status: 'FAIL',
      subject: { kind: 'DynamoComponentDeployment', namespace: 'serving', name: 'prefill' },
      location: { line: 17, column: 21 },
    });
    expect(one(report, { id: 'ST-CAP-03' })).toMatchObject({
      status: 'FAIL',
      evidence: [
        'profile nixl-rdma pins memory',
        'RDMA requested: resource rdma/ib',
        'IPC_LOCK not in capabilities.add',
      ],
    });
    expect(one(report, { id: 'ST-DEV-02' }).status).toBe('PASS');
  });

  it('requires IPC_LOCK for RDMA even in the base profile', () => {
    const report = lintFixture('manifests/dcd-v1beta1.yaml', { profile: 'base' });
    expect(one(report, { id: 'ST-CAP-03' }).status).toBe('FAIL');
  });
});

describe('lintSources() on GPU operator style samples', () => {
  it('passes a CUDA sample pod that requests one GPU', () => {
    const report = lintFixture('manifests/gpu-operator-samples.yaml', { profile: 'gpu' });
    expect(findings(report, (r) => r.subject?.name === 'cuda-vectoradd')).toEqual([
      'ST-CAP-02 WARN',
      'ST-ESC-01 WARN',
      'ST-USR-01 INFO',
      'ST-SEC-01 WARN',
      'ST-RES-01 WARN',
      'ST-RES-03 WARN',
      'ST-SA-01 INFO',
      'ST-PSS-01 INFO',
    ]);
  });

  it('fails a node validator for privileged, host PID, host root and bidirectional propagation', () => {
    const report = lintFixture('manifests/gpu-operator-samples.yaml', { profile: 'gpu' });
    const name = 'node-validator';
    expect(one(report, { id: 'ST-PRIV-01', name }).location?.line).toBe(33);
    expect(one(report, { id: 'ST-NS-01', name, resource: 'pid' }).status).toBe('FAIL');
    expect(one(report, { id: 'ST-VOL-01', name, resource: '/' })).toMatchObject({
      status: 'FAIL',
      evidence: ['volume host-root: hostPath /', 'validator: mountPath /host readOnly'],
    });
    const propagation = pick(report, { id: 'ST-VOL-01', name, line: 37 });
    expect(propagation).toHaveLength(1);
    expect(propagation[0]!.evidence).toEqual([
      'volume run-nvidia at /run/nvidia writable',
      'propagation Bidirectional',
    ]);
    expect(one(report, { id: 'ST-PSS-01', name }).evidence[0]).toBe('meets privileged');
  });
});

describe('lintSources() on the B21 and B23 cases', () => {
  it('warns that IPC_LOCK is not effective for UID 1000 and says where memlock comes from (B21)', () => {
    const report = lintFixture('manifests/b21-ipc-lock-nonroot.yaml', { profile: 'base' });
    const result = one(report, { id: 'ST-CAP-04' });
    expect(result).toMatchObject({
      status: 'WARN',
      subject: { name: 'pinned-cache', container: 'cache' },
      location: { line: 15, column: 17 },
      evidence: [
        'spec.containers[0].securityContext.capabilities.add[0]: IPC_LOCK',
        'spec.securityContext.runAsUser: 1000',
      ],
    });
    expect(result.remedy).toMatch(/memlock/);
    expect(result.remedy).toMatch(/OpenShift/);
    expect(result.remedy).toMatch(/setcap cap_ipc_lock\+ep/);
  });

  it('warns that fsGroup does not reach hostPath or NFS volumes (B23)', () => {
    const report = lintFixture('manifests/b23-fsgroup-hostpath.yaml');
    expect(one(report, { id: 'ST-USR-03', name: 'data-hostpath' })).toMatchObject({
      status: 'WARN',
      subject: { container: 'writer', resource: 'data' },
      location: { line: 17 },
      evidence: ['spec.securityContext.fsGroup: 2000', 'volume data: hostPath /mnt/nvme/kv'],
    });
    expect(one(report, { id: 'ST-USR-03', name: 'data-nfs' }).evidence[1]).toBe('volume data: nfs');
    expect(one(report, { id: 'ST-VOL-01', name: 'data-hostpath' }).status).toBe('FAIL');
  });
});

describe('lintSources() on privilege checks', () => {
  const report = lintFixture('manifests/privileged-everything.yaml', { profile: 'gpu' });
  const at = (id: string, resource?: string) =>
    one(report, { id, ...(resource ? { resource } : {}) });

  it('fails privileged, host PID, root and unconfined profiles with their lines', () => {
    expect(at('ST-PRIV-01')).toMatchObject({ status: 'FAIL', location: { line: 42 } });
    expect(at('ST-NS-01', 'pid')).toMatchObject({ status: 'FAIL', location: { line: 10 } });
    expect(at('ST-USR-01')).toMatchObject({ status: 'FAIL', location: { line: 14 } });
    expect(at('ST-SEC-01')).toMatchObject({ status: 'FAIL', location: { line: 45 } });
    expect(pick(report, { id: 'ST-SEC-02', status: 'FAIL' }).map((r) => r.location?.line)).toEqual([
      47, 49,
    ]);
  });

  it('tolerates host IPC and host network in the gpu profile with a WARN', () => {
    expect(at('ST-NS-01', 'ipc').status).toBe('WARN');
    expect(at('ST-NS-01', 'network').status).toBe('WARN');
  });

  it('fails ALL, forbidden and unlisted capabilities one by one', () => {
    for (const cap of ['ALL', 'SYS_MODULE', 'NET_ADMIN', 'WAKE_ALARM']) {
      expect(at('ST-CAP-01', cap).status).toBe('FAIL');
    }
    expect(at('ST-CAP-01', 'NET_ADMIN').location).toMatchObject({ line: 51, column: 38 });
  });

  it('fails unmasked /proc, probe hosts and unsafe sysctls but accepts safe sysctls', () => {
    expect(at('ST-SEC-03', 'procMount').status).toBe('FAIL');
    expect(at('ST-SEC-03', 'probe host').location?.line).toBe(54);
    expect(at('ST-SEC-03', 'kernel.msgmax').status).toBe('FAIL');
    expect(pick(report, { id: 'ST-SEC-03', resource: 'net.ipv4.tcp_syncookies' })).toEqual([]);
  });

  it('fails the runtime socket, /etc, a writable /run/udev and raw devices', () => {
    expect(at('ST-VOL-01', '/var/run/docker.sock').status).toBe('FAIL');
    expect(at('ST-VOL-01', '/etc').status).toBe('FAIL');
    expect(at('ST-VOL-01', '/run/udev')).toMatchObject({
      status: 'FAIL',
      why: 'the udev database must be mounted read-only',
    });
    expect(at('ST-DEV-01', '/dev/infiniband').status).toBe('FAIL');
    expect(at('ST-DEV-01', '/dev/nvme0n1').status).toBe('FAIL');
  });

  it('warns for an untagged image', () => {
    expect(at('ST-IMG-01')).toMatchObject({ status: 'WARN', location: { line: 40 } });
  });
});

describe('lintSources() on the environment', () => {
  const report = lintFixture('manifests/env-and-gpus.yaml', { profile: 'gpu' });

  it('fails loader injection and warns for literal secrets, redacted', () => {
    expect(one(report, { id: 'ST-ENV-01', resource: 'LD_PRELOAD' }).status).toBe('FAIL');
    expect(one(report, { id: 'ST-ENV-01', resource: 'NODE_OPTIONS' }).status).toBe('FAIL');
    const secret = one(report, { id: 'ST-ENV-01', resource: 'API_TOKEN' });
    expect(secret.status).toBe('WARN');
    expect(secret.evidence[0]).toMatch(/^API_TOKEN=<redacted: 12 chars, sha256 [0-9a-f]{8}>$/);
    expect(JSON.stringify(report)).not.toContain('s3cr3t');
    expect(pick(report, { id: 'ST-ENV-01', resource: 'HF_TOKEN' })).toEqual([]);
  });

  it('warns for NVIDIA_DRIVER_CAPABILITIES=all, relative library paths and MPI as root', () => {
    expect(one(report, { id: 'ST-ENV-01', resource: 'NVIDIA_DRIVER_CAPABILITIES' }).status).toBe(
      'WARN',
    );
    expect(one(report, { id: 'ST-ENV-01', resource: 'LD_LIBRARY_PATH' }).status).toBe('WARN');
    expect(one(report, { id: 'ST-USR-01', resource: 'OMPI_ALLOW_RUN_AS_ROOT' }).status).toBe(
      'WARN',
    );
  });

  it('fails NVIDIA_VISIBLE_DEVICES=all without a GPU request', () => {
    expect(one(report, { id: 'ST-RES-02', resource: 'NVIDIA_VISIBLE_DEVICES' })).toMatchObject({
      status: 'FAIL',
      location: { line: 23 },
    });
  });
});

describe('lintSources() on the root filesystem and /dev/shm', () => {
  const report = lintFixture('manifests/readonly-root.yaml', { profile: 'gpu' });

  it('warns for a read-only root without a writable /tmp only', () => {
    expect(one(report, { id: 'ST-FS-01', container: 'with-tmp' }).status).toBe('PASS');
    expect(one(report, { id: 'ST-FS-01', container: 'without-tmp' })).toMatchObject({
      status: 'WARN',
      location: { line: 32, column: 37 },
    });
  });

  it('warns for a /dev/shm below 1 GiB', () => {
    expect(one(report, { id: 'ST-RES-03' })).toMatchObject({
      status: 'WARN',
      evidence: ['volume shm: emptyDir medium Memory sizeLimit 256 MiB'],
    });
  });
});

describe('lintSources() on Windows pods', () => {
  it('fails each Linux-only field and skips the Linux checks', () => {
    const report = lintFixture('manifests/windows-pod.yaml', { profile: 'gpu' });
    expect(findings(report)).toEqual([
      'ST-WIN-01 WARN',
      'ST-WIN-01 FAIL',
      'ST-WIN-01 FAIL',
      'ST-WIN-01 FAIL',
      'ST-SA-01 INFO',
      'ST-PSS-01 INFO',
    ]);
    expect(pick(report, { id: 'ST-WIN-01', status: 'FAIL' }).map((r) => r.location?.line)).toEqual([
      10, 15, 16,
    ]);
  });
});

describe('lintSources() on kinds and bad input', () => {
  it('finds pod templates in every known kind, Lists and unknown kinds with a template', () => {
    const report = lintFixture('manifests/kinds.yaml');
    expect(report.errors).toEqual([]);
    const names = new Set(report.results.map((r) => r.subject?.name));
    for (const name of ['rs', 'cron', 'runner', 'listed']) expect(names).toContain(name);
    expect(names).not.toContain('svc');
    expect(one(report, { id: 'ST-PRIV-01', name: 'cron', container: 'init' }).status).toBe('PASS');
    expect(one(report, { id: 'ST-PRIV-01', name: 'runner' }).status).toBe('FAIL');
    expect(one(report, { id: 'ST-INPUT-02', name: 'widget' })).toMatchObject({
      status: 'INFO',
      location: { line: 32 },
    });
    expect(one(report, { id: 'ST-INPUT-02', name: 'runner' }).why).toMatch(/checked as a pod/);
    expect(one(report, { id: 'ST-INPUT-02', line: 55 }).status).toBe('WARN');
    expect(one(report, { id: 'ST-INPUT-02', name: 'no-kind' }).status).toBe('WARN');
  });

  it('reports a syntax error with its location and still checks the other documents', () => {
    const report = lintFixture('manifests/malformed.yaml');
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatchObject({
      code: 'ERR_DMEM_LINT_YAML',
      location: { file: 'manifests/malformed.yaml' },
    });
    expect(report.errors[0]!.location!.line).toBeGreaterThanOrEqual(15);
    expect(one(report, { id: 'ST-PRIV-01', name: 'good' }).status).toBe('PASS');
  });

  it('notes template placeholders and checks the rest as written', () => {
    const report = lintFixture('manifests/templated.yaml');
    expect(report.errors).toEqual([]);
    expect(one(report, { id: 'ST-INPUT-04' })).toMatchObject({
      status: 'INFO',
      location: { line: 4, column: 9 },
      evidence: ['unresolved: ${NAME}', 'unresolved: ${UID}', 'unresolved: ${IMAGE}'],
    });
    expect(one(report, { id: 'ST-USR-01' }).status).toBe('INFO');
    expect(one(report, { id: 'ST-IMG-01' }).status).toBe('INFO');
  });

  it('reads JSON manifests with locations', () => {
    const report = lintFixture('manifests/pod.json');
    expect(one(report, { id: 'ST-PRIV-01' })).toMatchObject({
      status: 'FAIL',
      location: { line: 7, column: 98 },
    });
  });

  it('is an error when a file holds no workload', () => {
    const report = lintFixture('manifests/empty.yaml');
    expect(report.results).toEqual([]);
    expect(report.errors).toEqual([expect.objectContaining({ code: 'ERR_DMEM_LINT_EMPTY' })]);
    expect(lintFixture('manifests/empty.yaml', { allowEmpty: true }).errors).toEqual([]);
  });
});

describe('lintSources() with suppression annotations', () => {
  it('turns a suppressed finding into INFO with its reason', () => {
    const report = lintFixture('manifests/suppressed.yaml');
    expect(one(report, { id: 'ST-CAP-01', resource: 'SYS_PTRACE' })).toMatchObject({
      status: 'INFO',
      suppressed: {
        reason: 'SYS_PTRACE for UCX CMA; ptrace_scope is 1 on these nodes',
        originalStatus: 'WARN',
      },
    });
  });

  it('ignores a suppression without a reason and says so where it is written', () => {
    const report = lintFixture('manifests/suppressed.yaml');
    expect(one(report, { id: 'ST-ESC-01' }).status).toBe('WARN');
    expect(one(report, { id: 'ST-SUP-01' })).toMatchObject({
      status: 'WARN',
      location: { line: 7, column: 5 },
      evidence: ['memory.dynamo.ai/ignore-check.ST-ESC-01: ""', 'ERR_DMEM_SUPPRESSION_REASON'],
    });
  });
});

describe('lintSources() on Pod Security Standards levels', () => {
  const report = lintFixture('manifests/pss-levels.yaml');
  const level = (name: string) => one(report, { id: 'ST-PSS-01', name }).evidence;

  it('says restricted for a pod with drop ALL, seccomp, non-root and no escalation', () => {
    expect(level('restricted')).toEqual(['meets restricted']);
  });

  it('says baseline and lists each restricted deviation', () => {
    expect(level('baseline')).toEqual([
      'meets baseline',
      'restricted/capabilities: container "app" adds CHOWN (line 30)',
      'restricted/seccomp: container "app": seccompProfile unset (line 29)',
      'restricted/allowPrivilegeEscalation: container "app": allowPrivilegeEscalation unset',
      'restricted/capabilities: container "app" does not drop ALL',
      'restricted/runAsNonRoot: container "app": runAsNonRoot unset',
    ]);
  });

  it('says privileged and names the baseline fields', () => {
    const evidence = level('privileged');
    expect(evidence[0]).toBe('meets privileged');
    expect(evidence).toContain('baseline/host namespaces: spec.hostNetwork: true (line 37)');
    expect(evidence).toContain(
      'baseline/host ports: container "app": spec.containers[0].ports[0].hostPort: 8080 (line 43)',
    );
  });
});

describe('fixture()', () => {
  it('points into test/fixtures', () => {
    expect(fixture('manifests/pod.json')).toMatch(/test\/fixtures\/manifests\/pod\.json$/);
  });
});

describe('lintSources() on legacy annotations and user namespaces', () => {
  const report = lintFixture('manifests/legacy-annotations.yaml');

  it('reads the AppArmor annotation per container', () => {
    expect(one(report, { id: 'ST-SEC-02', container: 'app' })).toMatchObject({
      status: 'FAIL',
      evidence: ['annotation apparmor: unconfined'],
      location: { line: 8 },
    });
  });

  it('lets the seccompProfile field win over the old annotation, per container', () => {
    expect(one(report, { id: 'ST-SEC-01', container: 'app' }).status).toBe('PASS');
    expect(one(report, { id: 'ST-SEC-01', container: 'debugger' })).toMatchObject({
      status: 'FAIL',
      location: { line: 28 },
    });
  });

  it('passes a pod that does not mount the token', () => {
    expect(one(report, { id: 'ST-SA-01' }).status).toBe('PASS');
  });

  it('skips the non-root checks of restricted for a pod with its own user namespace', () => {
    const evidence = one(report, { id: 'ST-PSS-01' }).evidence;
    expect(evidence.some((line) => line.includes('runAsNonRoot'))).toBe(false);
    expect(evidence.some((line) => line.includes('runAsUser'))).toBe(false);
    expect(evidence).toContain(
      'baseline/seccomp: container "debugger": spec.ephemeralContainers[0].securityContext.seccompProfile.type: Unconfined (line 28)',
    );
  });
});

describe('lintSources() on an RDMA worker', () => {
  it('passes IPC_LOCK and the RDMA resource in nixl-rdma and tolerates host networking', () => {
    const report = lintFixture('manifests/rdma-worker.yaml', { profile: 'nixl-rdma' });
    expect(one(report, { id: 'ST-CAP-03' })).toMatchObject({
      status: 'PASS',
      evidence: [
        'profile nixl-rdma pins memory',
        'RDMA requested: resource rdma/hca_shared_devices_a',
        'spec.template.spec.containers[0].securityContext.capabilities.add[0]: IPC_LOCK',
      ],
    });
    expect(one(report, { id: 'ST-DEV-02' }).status).toBe('PASS');
    expect(one(report, { id: 'ST-NS-01', resource: 'network' }).status).toBe('WARN');
    expect(one(report, { id: 'ST-USR-02' }).evidence).toEqual([
      'spec.template.spec.securityContext.supplementalGroups[0]: 0',
    ]);
    expect(one(report, { id: 'ST-CAP-04' }).status).toBe('WARN');
  });

  it('needs IPC_LOCK for UCX over verbs even in the gpu profile', () => {
    const text = readFileSync(fixture('manifests/rdma-worker.yaml'), 'utf8')
      .replace('add: [IPC_LOCK]', 'add: []')
      .replace('rdma/hca_shared_devices_a: 1', 'example.com/other: 1');
    const report = lintSources([{ name: 'w.yaml', text }], { profile: 'gpu' });
    expect(one(report, { id: 'ST-CAP-03' })).toMatchObject({
      status: 'FAIL',
      evidence: [
        'RDMA requested: UCX_TLS=rc,cuda_copy,cuda_ipc',
        'IPC_LOCK not in capabilities.add',
      ],
    });
  });
});
