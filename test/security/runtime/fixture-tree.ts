/** Builds fixture trees for /proc, /sys, /dev and / so checks run unprivileged on known input. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { PreflightOptions } from '../../../lib/security/preflight.js';
import type { Probes } from '../../../lib/security/runtime/context.js';

export const fixtures = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../fixtures/proc',
);

/** Reads a fixture file by name. */
export function fixture(name: string): string {
  return fs.readFileSync(path.join(fixtures, name), 'utf8');
}

export interface TreeSpec {
  status?: string;
  limits?: string;
  mountinfo?: string;
  cgroup?: string;
  uidMap?: string;
  /** Namespace link targets by type; defaults to private namespaces. */
  ns?: Record<string, string>;
  /** Extra files by path relative to the tree (`proc/...`, `sys/...`, `dev/...`, `root/...`). */
  files?: Record<string, string>;
  /** Status lines to replace (`CapBnd: 0000000000200000`). */
  statusPatch?: Record<string, string>;
}

/** A fixture tree and the preflight options that point at it. */
export interface Tree {
  dir: string;
  options: Pick<
    PreflightOptions,
    'procRoot' | 'sysRoot' | 'devRoot' | 'rootDir' | 'env' | 'probes' | 'auditLog'
  >;
  cleanup(): void;
}

/** Probes that always succeed; tests override one at a time. */
export const passingProbes: Probes = {
  memlock: (bytes) => ({ bytes, ok: true }),
  directIo: () => ({
    opened: true,
    alignedWrite: true,
    unalignedRefused: true,
    offsetAlign: 512,
    memoryAlign: 512,
  }),
  writable: () => ({ ok: true, value: true }),
  syscalls: () => ({
    ok: true,
    value: ['get_mempolicy', 'mbind', 'io_uring_setup', 'process_vm_readv'].map((name) => ({
      name,
      allowed: true,
      errno: 'OK',
    })),
  }),
};

export function buildTree(spec: TreeSpec = {}): Tree {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmem-preflight-'));
  const write = (relative: string, text: string): void => {
    const file = path.join(dir, relative);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  };
  let status = fixture(spec.status ?? 'status-uid1000-gid0.txt');
  for (const [key, value] of Object.entries(spec.statusPatch ?? {})) {
    status = status.replace(new RegExp(`^${key}:.*$`, 'm'), `${key}:\t${value}`);
  }
  write('proc/self/status', status);
  write('proc/self/limits', fixture(spec.limits ?? 'limits-vm.txt'));
  write('proc/self/mountinfo', fixture(spec.mountinfo ?? 'mountinfo-docker.txt'));
  write('proc/self/cgroup', fixture(spec.cgroup ?? 'cgroup-v2-private.txt'));
  write('proc/self/uid_map', spec.uidMap ?? '         0          0 4294967295\n');
  write('proc/sys/kernel/cap_last_cap', '40\n');
  write('sys/fs/cgroup/memory.max', 'max\n');
  fs.mkdirSync(path.join(dir, 'dev'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'root/tmp'), { recursive: true });
  const ns = {
    pid: 'pid:[4026532301]',
    ipc: 'ipc:[4026532300]',
    uts: 'uts:[4026532299]',
    ...spec.ns,
  };
  fs.mkdirSync(path.join(dir, 'proc/self/ns'), { recursive: true });
  for (const [type, target] of Object.entries(ns)) {
    fs.symlinkSync(target, path.join(dir, 'proc/self/ns', type));
  }
  for (const [relative, text] of Object.entries(spec.files ?? {})) write(relative, text);
  return {
    dir,
    options: {
      procRoot: path.join(dir, 'proc'),
      sysRoot: path.join(dir, 'sys'),
      devRoot: path.join(dir, 'dev'),
      rootDir: path.join(dir, 'root'),
      env: {},
      probes: passingProbes,
      auditLog: false,
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
