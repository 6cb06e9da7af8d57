/**
 * Linux capabilities as the security checks see them: the name/bit table, decoding of the hex
 * masks in `/proc/<pid>/status`, and the sets that runtimes and the Pod Security Standards
 * grant. Names are kept without the `CAP_` prefix and in upper case, the form Kubernetes uses;
 * `normalizeCapability` maps Docker's `CAP_*` and lower-case spellings onto it.
 */
import { describeValue, InvalidArgumentError } from '../errors.js';

/** Bit numbers from `linux/capability.h`; the order is the kernel's. */
export const capabilityBits: Readonly<Record<string, number>> = Object.freeze({
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  DAC_READ_SEARCH: 2,
  FOWNER: 3,
  FSETID: 4,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SETPCAP: 8,
  LINUX_IMMUTABLE: 9,
  NET_BIND_SERVICE: 10,
  NET_BROADCAST: 11,
  NET_ADMIN: 12,
  NET_RAW: 13,
  IPC_LOCK: 14,
  IPC_OWNER: 15,
  SYS_MODULE: 16,
  SYS_RAWIO: 17,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_PACCT: 20,
  SYS_ADMIN: 21,
  SYS_BOOT: 22,
  SYS_NICE: 23,
  SYS_RESOURCE: 24,
  SYS_TIME: 25,
  SYS_TTY_CONFIG: 26,
  MKNOD: 27,
  LEASE: 28,
  AUDIT_WRITE: 29,
  AUDIT_CONTROL: 30,
  SETFCAP: 31,
  MAC_OVERRIDE: 32,
  MAC_ADMIN: 33,
  SYSLOG: 34,
  WAKE_ALARM: 35,
  BLOCK_SUSPEND: 36,
  AUDIT_READ: 37,
  PERFMON: 38,
  BPF: 39,
  CHECKPOINT_RESTORE: 40,
});

/** Every capability name this table knows, in bit order. */
export const capabilityNames: readonly string[] = Object.freeze(
  Object.keys(capabilityBits).sort((a, b) => capabilityBits[a]! - capabilityBits[b]!),
);

/** The highest bit in the table; kernels may know more (`/proc/sys/kernel/cap_last_cap`). */
export const lastKnownCapability = 40;

/**
 * The set Docker and containerd grant a container by default (moby's `oci/caps/defaults.go`):
 * mask `0xa80425fb`.
 */
export const dockerDefaultCapabilities: readonly string[] = Object.freeze([
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'NET_BIND_SERVICE',
  'NET_RAW',
  'SYS_CHROOT',
  'MKNOD',
  'AUDIT_WRITE',
  'SETFCAP',
]);

/** `dockerDefaultCapabilities` as a mask. */
export const dockerDefaultMask = 0xa80425fbn;

/**
 * What Pod Security Standards baseline lets `capabilities.add` contain: the runtime default set
 * without NET_RAW. IPC_LOCK and SYS_PTRACE are not in it, which is why every RDMA or GDS pod
 * lands at level privileged.
 */
export const pssBaselineCapabilities: readonly string[] = Object.freeze([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

/** What Pod Security Standards restricted lets `capabilities.add` contain. */
export const pssRestrictedCapabilities: readonly string[] = Object.freeze(['NET_BIND_SERVICE']);

/**
 * Maps a capability as written in a manifest, a `docker run` flag or a tool's output onto the
 * table's form: upper case, no `CAP_` prefix (`cap_ipc_lock`, `CAP_IPC_LOCK` and `ipc_lock` all
 * become `IPC_LOCK`). `ALL` stays `ALL`. Unknown names are returned normalized, not rejected:
 * callers decide what an unknown name means.
 */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper.startsWith('CAP_') ? upper.slice(4) : upper;
}

/** Whether `name` (in any spelling `normalizeCapability` accepts) is a known capability. */
export function isKnownCapability(name: string): boolean {
  return Object.hasOwn(capabilityBits, normalizeCapability(name));
}

/**
 * Parses a capability mask as printed in `/proc/self/status` (`CapEff:\t000001ffffffffff`),
 * with or without `0x`.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_CAPABILITY_MASK` when the text is not 1 to
 *   16 hex digits.
 */
export function parseCapabilityMask(text: string): bigint {
  const match = /^\s*(?:0x)?([0-9a-fA-F]{1,16})\s*$/.exec(String(text));
  if (!match) {
    throw new InvalidArgumentError(
      'ERR_DMEM_INVALID_CAPABILITY_MASK',
      `Expected a capability mask of 1 to 16 hex digits, received ${describeValue(text)}`,
    );
  }
  return BigInt('0x' + match[1]);
}

/**
 * Names the capabilities in a mask, in bit order. Bits beyond the table (a newer kernel) come
 * out as `BIT_<n>` so that nothing set is silently dropped.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_CAPABILITY_MASK` for malformed text.
 */
export function decodeCapabilityMask(mask: bigint | string): string[] {
  const value = typeof mask === 'bigint' ? mask : parseCapabilityMask(mask);
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((value >> BigInt(bit)) & 1n) names.push(capabilityNames[bit] ?? `BIT_${bit}`);
  }
  return names;
}

/**
 * Builds the mask of a list of capabilities; `ALL` means every capability in the table.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_UNKNOWN_CAPABILITY` naming the first unknown name.
 */
export function encodeCapabilities(names: Iterable<string>): bigint {
  let mask = 0n;
  for (const raw of names) {
    const name = normalizeCapability(raw);
    if (name === 'ALL') {
      mask |= fullCapabilityMask();
      continue;
    }
    const bit = capabilityBits[name];
    if (bit === undefined) {
      throw new InvalidArgumentError(
        'ERR_DMEM_UNKNOWN_CAPABILITY',
        `Expected a Linux capability name such as IPC_LOCK, received ${describeValue(raw)}`,
      );
    }
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** Whether `mask` has the capability `name` (any accepted spelling); false for unknown names. */
export function hasCapability(mask: bigint, name: string): boolean {
  const bit = capabilityBits[normalizeCapability(name)];
  return bit !== undefined && ((mask >> BigInt(bit)) & 1n) === 1n;
}

/**
 * The mask of every capability a kernel knows: `(1 << (lastCap + 1)) - 1`. A hard-coded
 * `3fffffffff` (cap_last_cap 37) misses privileged containers on current kernels, so pass the
 * value of `/proc/sys/kernel/cap_last_cap`.
 *
 * @param lastCap the highest capability number. Defaults to `lastKnownCapability` (40).
 */
export function fullCapabilityMask(lastCap = lastKnownCapability): bigint {
  return (1n << BigInt(lastCap + 1)) - 1n;
}
