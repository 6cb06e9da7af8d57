/** Checks shared by the sides of transfers and prepared lists. Internal. */
import { invalidArgument, NixlError } from '../errors.js';

import type { NixlDescriptor, NixlMemType, Region } from './memory.js';
import type { RegionRecord } from './registration-table.js';

/** One value or a list of them. */
export type Segments<T> = T | readonly T[];

/** One side of a transfer, resolved: its memory type, descriptors and the records it holds. */
export interface Side {
  memType: NixlMemType;
  descs: NixlDescriptor[];
  records: RegionRecord[];
}

export function listOf<T>(segments: Segments<T>, name: string): readonly T[] {
  const list = Array.isArray(segments) ? (segments as readonly T[]) : [segments as T];
  if (list.length === 0) throw invalidArgument(name, 'at least one segment', segments);
  return list;
}

export function isPlainDescriptor(value: unknown): value is NixlDescriptor {
  return (
    typeof value === 'object' &&
    value !== null &&
    'memType' in value &&
    'addr' in value &&
    !('memory' in value)
  );
}

export function oneMemType(descs: readonly NixlDescriptor[], name: string): NixlMemType {
  const memType = descs[0]!.memType;
  descs.forEach((desc, i) => {
    if (desc.memType !== memType) {
      throw invalidArgument(`${name}[${i}]`, `${memType} memory like ${name}[0]`, desc.memType);
    }
  });
  return memType;
}

export function matchLengths(
  local: readonly NixlDescriptor[],
  remote: readonly NixlDescriptor[],
): void {
  if (local.length !== remote.length) {
    throw invalidArgument('remote', `${local.length} segments like local`, remote.length);
  }
  local.forEach((desc, i) => {
    if (desc.length !== remote[i]!.length) {
      throw invalidArgument(
        `remote[${i}].length`,
        `${desc.length} like local[${i}]`,
        remote[i]!.length,
      );
    }
  });
}

export function opOf(op: unknown): number {
  if (op === 'READ') return 0;
  if (op === 'WRITE') return 1;
  throw invalidArgument('op', 'READ or WRITE', op);
}

export function unsupported(region: Region, why: string): NixlError {
  return new NixlError(
    'ERR_DMEM_NIXL_NO_BACKEND',
    `Cannot register ${region.kind.name} memory as ${region.memType}: ${why}`,
  );
}
