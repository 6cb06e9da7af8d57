import { describe, expect, it } from 'vitest';

import { scanDockerRuns } from '../../../lib/security/docker-run.js';
import { lintSources } from '../../../lib/security/lint.js';

import { findings, lintFixture, one, pick } from './helpers.js';

const model = (text: string) => {
  const scan = scanDockerRuns('run.sh', text);
  expect(scan.workloads).toHaveLength(1);
  return { scan, workload: scan.workloads[0]!, container: scan.workloads[0]!.containers[0]! };
};

describe('scanDockerRuns()', () => {
  it('reads --flag=value, --flag value, combined short flags and attached short values', () => {
    const { container, workload } = model(
      'docker run -it --rm -eFOO=bar -v/data:/data:ro --cap-add=SYS_NICE --cap-drop ALL -m 8g img:1',
    );
    expect(container.env).toEqual([{ name: 'FOO', value: 'bar', loc: expect.any(Object) }]);
    expect(container.mounts[0]).toMatchObject({
      hostPath: '/data',
      target: '/data',
      readOnly: true,
    });
    expect(container.capAdd.map((cap) => cap.value)).toEqual(['SYS_NICE']);
    expect(container.capDrop.map((cap) => cap.text)).toEqual(['--cap-drop ALL']);
    expect(container.memoryLimit?.value).toBe(8 * 1024 ** 3);
    expect(container.image?.value).toBe('img:1');
    expect(workload.subject).toEqual({ kind: 'docker run', name: 'line 1' });
  });

  it('follows line continuations and reports the line and column of each flag', () => {
    const { container } = model('docker run \\\n  --rm \\\n    --cap-add IPC_LOCK \\\n  img:1\n');
    expect(container.capAdd[0]).toMatchObject({
      value: 'IPC_LOCK',
      text: '--cap-add IPC_LOCK',
      loc: { file: 'run.sh', line: 3, column: 5 },
    });
    expect(container.image?.loc).toMatchObject({ line: 4, column: 3 });
  });

  it('finds runs behind sudo, env prefixes, docker global flags and in command substitutions', () => {
    const text = [
      'FOO=1 sudo -E docker --context prod run --name a img:1',
      'echo start && docker container run --name b img:1 | tee log',
      'ID=$(nvidia-docker run -d --name c img:1)',
      'podman run --name d img:1; docker create --name e img:1',
      'docker ps; docker build .',
    ].join('\n');
    const names = scanDockerRuns('s.sh', text).workloads.map((w) => w.subject.name);
    expect(names.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('ignores docker run inside quotes and comments', () => {
    const text = "# docker run --privileged x\necho 'docker run --privileged y'\n";
    expect(scanDockerRuns('s.sh', text).workloads).toEqual([]);
  });

  it('expands plain assignments, also with defaults, and splits unquoted flag variables', () => {
    const text = [
      'GPU_STRING="--gpus all"',
      'IMAGE="${IMAGE:-registry.example.com/app:2}"',
      'docker run ${GPU_STRING} --shm-size=${SHM:-1g} "${IMAGE}" serve',
    ].join('\n');
    const { container, workload, scan } = model(text);
    expect(container.gpus?.value).toBe('all');
    expect(workload.shmSize?.value).toBe(1024 ** 3);
    expect(container.image?.value).toBe('registry.example.com/app:2');
    expect(scan.findings).toEqual([]);
  });

  it('reports variables it cannot resolve, and takes a quoted one as the image', () => {
    const { container, scan } = model('docker run $EXTRA_FLAGS --user "$(id -u)" "$IMAGE"');
    expect(container.image?.value).toBe('$IMAGE');
    expect(scan.findings).toEqual([
      expect.objectContaining({
        id: 'ST-INPUT-04',
        status: 'INFO',
        evidence: ['unresolved: EXTRA_FLAGS', 'unresolved: $(id -u)', 'unresolved: IMAGE'],
      }),
    ]);
  });

  it('reads --mount, --tmpfs, --device, --gpus, --ulimit, --security-opt and --user', () => {
    const { container, workload } = model(
      [
        'docker run --mount type=bind,src=/srv,dst=/srv,readonly,bind-propagation=rslave',
        '--tmpfs /tmp:size=1g --device /dev/nvidia-fs0:/dev/nvidia-fs0:rwm --gpus "device=0,1"',
        '--ulimit memlock=-1 --ulimit nofile=1024:2048 --security-opt no-new-privileges:true',
        '--security-opt label=type:container_t --user dynamo:0 --ipc=host img:1',
      ].join(' '),
    );
    expect(container.mounts[0]).toMatchObject({
      hostPath: '/srv',
      target: '/srv',
      readOnly: true,
      propagation: 'rslave',
    });
    expect(container.mounts[1]).toMatchObject({ target: '/tmp', scratch: true });
    expect(container.devices.map((d) => d.value)).toEqual(['/dev/nvidia-fs0']);
    expect(container.gpus?.value).toBe(2);
    expect(container.ulimits.get('memlock')?.value).toEqual({ soft: -1, hard: -1 });
    expect(container.ulimits.get('nofile')?.value).toEqual({ soft: 1024, hard: 2048 });
    expect(container.allowPrivilegeEscalation?.value).toBe(false);
    expect(container.seLinux?.value).toEqual({ type: 'container_t' });
    expect(container.runAsUser?.value).toBe('dynamo');
    expect(container.runAsGroup?.value).toBe(0);
    expect(workload.hostIPC?.value).toBe(true);
  });

  it('reports unknown flags and a missing image with their location, without throwing', () => {
    const scan = scanDockerRuns(
      'u.sh',
      'docker run --frobnicate -x --name odd img:1\ndocker run --rm',
    );
    expect(scan.findings.map((f) => [f.id, f.status, f.evidence[0], f.location?.line])).toEqual([
      ['ST-INPUT-03', 'WARN', '--frobnicate', 1],
      ['ST-INPUT-03', 'WARN', '-x', 1],
      ['ST-INPUT-01', 'WARN', 'no image after the flags', 2],
    ]);
  });

  it('reads suppression comments right above the command only', () => {
    const text = [
      '# memory.dynamo.ai/ignore-check.ST-CAP-01: far away',
      '',
      '# memory.dynamo.ai/ignore-check.ST-NS-01: bench nodes',
      '# plain comment',
      'docker run --network host img:1',
    ].join('\n');
    const { workload } = model(text);
    expect([...workload.annotations.keys()]).toEqual(['memory.dynamo.ai/ignore-check.ST-NS-01']);
  });
});

describe('lintSources() on docker run fixtures', () => {
  it('passes the Dynamo GDS launch except the tolerated extras', () => {
    const report = lintFixture('docker/dynamo-gds.sh', { profile: 'gds' });
    expect(report.errors).toEqual([]);
    expect(findings(report)).toEqual([
      'ST-NS-01 INFO',
      'ST-NS-01 INFO',
      'ST-CAP-01 WARN',
      'ST-CAP-04 INFO',
      'ST-VOL-01 WARN',
      'ST-RES-02 INFO',
    ]);
    expect(one(report, { id: 'ST-NS-01', resource: 'network' }).suppressed).toEqual({
      reason: 'host networking and IPC for NIXL on the bench nodes',
      originalStatus: 'WARN',
    });
    expect(one(report, { id: 'ST-VOL-01', resource: '/run/udev' })).toMatchObject({
      status: 'PASS',
      evidence: ['-v /run/udev:/run/udev:ro'],
      location: { line: 23, column: 5 },
    });
    expect(one(report, { id: 'ST-USR-02' }).status).toBe('PASS');
    expect(one(report, { id: 'ST-CAP-03' }).status).toBe('PASS');
  });

  it('flags every risky flag with its own line', () => {
    const report = lintFixture('docker/risky.sh', { profile: 'gds' });
    const status = (id: string, resource?: string) =>
      one(report, { id, ...(resource ? { resource } : {}) });
    expect(status('ST-PRIV-01')).toMatchObject({
      status: 'FAIL',
      location: { line: 3, column: 20 },
    });
    expect(status('ST-NS-01', 'pid').status).toBe('FAIL');
    expect(status('ST-NS-01', 'uts').status).toBe('WARN');
    expect(status('ST-NS-01', 'user').status).toBe('INFO');
    expect(status('ST-CAP-01', 'ALL').status).toBe('FAIL');
    expect(status('ST-CAP-01', 'SYS_ADMIN').evidence).toEqual(['--cap-add sys_admin']);
    expect(status('ST-USR-01').status).toBe('FAIL');
    expect(status('ST-USR-02').status).toBe('FAIL');
    expect(status('ST-SEC-01').status).toBe('FAIL');
    expect(pick(report, { id: 'ST-SEC-02', status: 'FAIL' })).toHaveLength(2);
    expect(status('ST-SEC-03', 'procMount').evidence).toEqual([
      '--security-opt systempaths=unconfined',
    ]);
    expect(status('ST-SEC-03', 'kernel.msgmax').status).toBe('WARN');
    expect(status('ST-VOL-01', '/var/run/docker.sock').status).toBe('FAIL');
    expect(status('ST-VOL-01', '/').status).toBe('FAIL');
    expect(pick(report, { id: 'ST-VOL-01', resource: '/models' })[0]!.evidence[1]).toBe(
      'propagation rshared',
    );
    expect(status('ST-DEV-01', '/dev/sda').status).toBe('FAIL');
    expect(status('ST-DEV-01', '/dev/infiniband').status).toBe('FAIL');
    expect(status('ST-DEV-01', '/dev/nvidia0').status).toBe('PASS');
    expect(status('ST-DEV-01', 'c 195:* rmw').status).toBe('WARN');
    expect(status('ST-ENV-01', 'LD_PRELOAD').status).toBe('FAIL');
    expect(status('ST-ENV-01', 'AWS_SECRET_ACCESS_KEY').evidence[0]).toMatch(/<redacted/);
    expect(status('ST-FS-01').status).toBe('WARN');
    expect(status('ST-IMG-01').status).toBe('WARN');
  });

  it('warns for --user without group 0, IPC_LOCK for a non-root user and few open files', () => {
    const report = lintFixture('docker/users-and-limits.sh', { profile: 'gpu' });
    expect(one(report, { id: 'ST-USR-02', name: 'no-group' })).toMatchObject({
      status: 'WARN',
      remedy: '--user 1000:0 or --group-add 0',
      location: { line: 3, column: 33 },
    });
    expect(one(report, { id: 'ST-USR-02', name: 'small-memlock' }).status).toBe('PASS');
    expect(one(report, { id: 'ST-CAP-04', name: 'small-memlock' }).status).toBe('WARN');
    expect(
      one(report, { id: 'ST-ULIM-01', name: 'small-memlock', resource: 'nofile' }).status,
    ).toBe('WARN');
    expect(one(report, { id: 'ST-RES-03', name: 'no-group' }).evidence).toEqual([
      '--shm-size 512m',
    ]);
    expect(one(report, { id: 'ST-FS-01', name: 'small-memlock' }).status).toBe('PASS');
    expect(
      one(report, { id: 'ST-RES-02', name: 'nested', resource: 'NVIDIA_VISIBLE_DEVICES' }).status,
    ).toBe('FAIL');
  });

  it('judges memlock against the pinned size', () => {
    const pinned = 1024 ** 3;
    const report = lintFixture('docker/users-and-limits.sh', {
      profile: 'gpu',
      pinnedBytes: pinned,
    });
    expect(
      one(report, { id: 'ST-ULIM-01', name: 'small-memlock', resource: 'memlock' }),
    ).toMatchObject({
      status: 'FAIL',
      evidence: ['--ulimit memlock=65536', 'pinned 1 GiB'],
    });
    expect(one(report, { id: 'ST-CAP-03', name: 'no-group' })).toMatchObject({
      status: 'FAIL',
      evidence: [
        'pinned cache --pinned 1073741824',
        'neither --cap-add IPC_LOCK nor --ulimit memlock',
      ],
    });
  });

  it('reads a single command line from a file with no script extension', () => {
    const report = lintFixture('docker/oneliner.txt', { profile: 'gpu' });
    expect(one(report, { id: 'ST-CAP-01', resource: 'SYS_NICE' }).status).toBe('WARN');
    expect(one(report, { id: 'ST-RES-02', name: 'line 1' }).status).toBe('PASS');
  });

  it('checks docker lines given as text of type docker', () => {
    const report = lintSources(
      [{ name: 'cmd', text: 'docker run --privileged img:1', type: 'docker' }],
      { profile: 'dev' },
    );
    expect(one(report, { id: 'ST-PRIV-01' }).status).toBe('WARN');
  });
});

describe('scanDockerRuns() on scripts that build flags conditionally', () => {
  it('does not expand variables set in branches or appended to, and lists them instead', () => {
    const text = [
      'GPUS=all',
      'EXTRA=',
      'MOUNTS=',
      'if [ -n "$DEV" ]; then',
      '  EXTRA="--privileged"',
      '  MOUNTS+=" -v /tmp:/tmp "',
      'fi',
      'GPU_STRING="--gpus ${GPUS}"',
      'docker run ${GPU_STRING} ${EXTRA} ${MOUNTS} --ipc host ${IMAGE} bash',
    ].join('\n');
    const { container, scan } = model(text);
    expect(container.gpus?.value).toBe('all');
    expect(container.privileged).toBeUndefined();
    expect(container.image?.value).toBe('${IMAGE}');
    expect(scan.findings[0]).toMatchObject({
      id: 'ST-INPUT-04',
      evidence: ['unresolved: EXTRA', 'unresolved: MOUNTS', 'unresolved: IMAGE'],
    });
  });
});
