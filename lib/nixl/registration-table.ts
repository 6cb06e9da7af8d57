/**
 * Registration bookkeeping of one agent, kept apart from NIXL so that it can be tested without
 * it. NIXL itself does not deduplicate (registering a region twice and deregistering it twice
 * double-frees backend metadata, ai-dynamo/nixl#1792) and, without explicit backends, deregisters
 * on backends the region never used; so every region is registered once per backend here,
 * reference counted, and deregistered on exactly the backends that registered it.
 *
 * Holders (registration handles, transfer requests, prepared lists) take references on records;
 * a record is deregistered when its last holder lets go. When the memory behind a record is
 * freed or closed, every holder of that memory is invalidated first, then the records go: the
 * memory never disappears under a live registration.
 */
import { debug } from '../debug.js';
import { BusyError } from '../errors.js';

import { memTypeNumber } from './native.js';
import { type NixlDescriptor, packDescriptors, type Region, regionKey } from './memory.js';

/** @internal The NIXL calls the table makes (the agent, or a fake in tests). */
export interface RegistrationDriver {
  register(memType: number, descs: BigUint64Array, backend: string): void;
  deregister(memType: number, descs: BigUint64Array, backend: string): void;
}

/** @internal Something that holds records: a registration handle, a request, a prepared list. */
export interface Holder {
  /** True while a transfer that uses the records is in flight: the memory cannot go then. */
  readonly busy: boolean;
  /** Called when the memory under one of its records is being released; must not throw. */
  invalidate(reason: string): void;
}

/** @internal One region registered on one backend. */
export interface RegionRecord extends NixlDescriptor {
  readonly key: string;
  readonly backend: string;
  readonly owner: object;
  readonly holders: Set<Holder>;
}

interface OwnerWatch {
  records: Set<RegionRecord>;
  unwatch: () => void;
}

/** @internal */
export class RegistrationTable {
  readonly #driver: RegistrationDriver;
  readonly #records = new Map<string, RegionRecord>();
  readonly #owners = new Map<object, OwnerWatch>();

  constructor(driver: RegistrationDriver) {
    this.#driver = driver;
  }

  /** Number of (region, backend) registrations alive in NIXL. */
  get size(): number {
    return this.#records.size;
  }

  /** The record of a region on a backend, if registered. */
  find(desc: NixlDescriptor, backend: string): RegionRecord | undefined {
    return this.#records.get(`${regionKey(desc)}@${backend}`);
  }

  /**
   * Registered records whose region covers `desc` (same type and devId, range inside), on any
   * backend, live holders only.
   */
  covering(desc: NixlDescriptor): RegionRecord[] {
    const found: RegionRecord[] = [];
    for (const record of this.#records.values()) {
      if (
        record.memType === desc.memType &&
        record.devId === desc.devId &&
        desc.addr >= record.addr &&
        desc.addr + desc.length <= record.addr + record.length
      ) {
        found.push(record);
      }
    }
    return found;
  }

  /**
   * Registers each region on each of its backends unless already registered there, and adds
   * `holder` to every record. New registrations are made with one NIXL call per (memory type,
   * backend); if any call fails, the ones made by this call are undone and the error thrown.
   */
  acquire(holder: Holder, regions: readonly { region: Region; backends: readonly string[] }[]) {
    const fresh = new Map<string, { memType: number; backend: string; records: RegionRecord[] }>();
    const taken: RegionRecord[] = [];
    for (const { region, backends } of regions) {
      for (const backend of backends) {
        const key = `${regionKey(region)}@${backend}`;
        let record = this.#records.get(key) ?? pendingIn(fresh, key);
        if (!record) {
          record = {
            key,
            backend,
            owner: region.owner,
            holders: new Set(),
            memType: region.memType,
            addr: region.addr,
            length: region.length,
            devId: region.devId,
          };
          const group = `${region.memType}@${backend}`;
          if (!fresh.has(group)) {
            fresh.set(group, { memType: memTypeNumber[region.memType], backend, records: [] });
          }
          fresh.get(group)!.records.push(record);
        }
        if (!taken.includes(record)) taken.push(record);
      }
    }

    const done: { memType: number; backend: string; records: RegionRecord[] }[] = [];
    try {
      for (const group of fresh.values()) {
        this.#driver.register(group.memType, packDescriptors(group.records), group.backend);
        done.push(group);
      }
    } catch (error) {
      for (const group of done) {
        this.#quietDeregister(group.memType, group.records, group.backend);
      }
      throw error;
    }

    for (const group of fresh.values()) {
      for (const record of group.records) this.#insert(record, regions);
    }
    for (const record of taken) record.holders.add(holder);
    return taken;
  }

  /**
   * Adds `holder` to records that already exist (a transfer pinning what it uses).
   */
  hold(holder: Holder, records: readonly RegionRecord[]): void {
    for (const record of records) record.holders.add(holder);
  }

  /**
   * Removes `holder` from its records and deregisters every record left without holders, one
   * NIXL call per (memory type, backend). Deregistration is best effort in NIXL; a failure here
   * is thrown after every group was tried, and the records are forgotten either way.
   */
  release(holder: Holder, records: readonly RegionRecord[]): void {
    const orphans: RegionRecord[] = [];
    for (const record of records) {
      if (!record.holders.delete(holder)) continue;
      if (record.holders.size === 0 && this.#records.get(record.key) === record) {
        orphans.push(record);
      }
    }
    this.#deregister(orphans);
  }

  /**
   * The memory behind `owner` is about to be released: refuses while a transfer on it is in
   * flight, else invalidates every holder of its records (each lets go of all its records) and
   * deregisters them.
   *
   * @throws {BusyError} `ERR_DMEM_NIXL_IN_FLIGHT` while a transfer uses the memory.
   */
  ownerReleased(owner: object): void {
    const watch = this.#owners.get(owner);
    if (!watch) return;
    const holders = new Set<Holder>();
    for (const record of watch.records) for (const holder of record.holders) holders.add(holder);
    if ([...holders].some((holder) => holder.busy)) {
      throw new BusyError(
        'ERR_DMEM_NIXL_IN_FLIGHT',
        'Cannot release memory while a NIXL transfer on it is in flight; await the transfer first',
      );
    }
    // NIXL treats deregistration as best effort too: a failure is traced, and the memory is
    // released anyway, since NIXL will not touch it again once the records are gone.
    try {
      for (const holder of holders) holder.invalidate('its memory was freed or closed');
      const left = this.#owners.get(owner);
      if (left) this.#deregister([...left.records]);
    } catch (error) {
      debug('nixl: deregistration on release failed: %s', (error as Error)?.message ?? error);
    }
  }

  /** Deregisters everything, whoever holds it (agent close). */
  releaseAll(): void {
    this.#deregister([...this.#records.values()]);
  }

  #insert(record: RegionRecord, regions: readonly { region: Region }[]): void {
    this.#records.set(record.key, record);
    let watch = this.#owners.get(record.owner);
    if (!watch) {
      const kind = regions.find(({ region }) => region.owner === record.owner)!.region.kind;
      const owner = record.owner;
      watch = {
        records: new Set(),
        unwatch: kind.onRelease(owner, () => this.ownerReleased(owner)),
      };
      this.#owners.set(owner, watch);
    }
    watch.records.add(record);
  }

  #deregister(records: readonly RegionRecord[]): void {
    const groups = new Map<string, { memType: number; backend: string; records: RegionRecord[] }>();
    for (const record of records) {
      if (this.#records.get(record.key) !== record) continue;
      this.#records.delete(record.key);
      record.holders.clear();
      const watch = this.#owners.get(record.owner);
      watch?.records.delete(record);
      if (watch && watch.records.size === 0) {
        watch.unwatch();
        this.#owners.delete(record.owner);
      }
      const group = `${record.memType}@${record.backend}`;
      if (!groups.has(group)) {
        groups.set(group, {
          memType: memTypeNumber[record.memType],
          backend: record.backend,
          records: [],
        });
      }
      groups.get(group)!.records.push(record);
    }

    let failure: unknown;
    for (const group of groups.values()) {
      try {
        this.#driver.deregister(group.memType, packDescriptors(group.records), group.backend);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  #quietDeregister(memType: number, records: readonly RegionRecord[], backend: string): void {
    try {
      this.#driver.deregister(memType, packDescriptors(records), backend);
    } catch {
      // Rolling back after a failed registration: the original error is the one to report.
    }
  }
}

function pendingIn(
  fresh: Map<string, { records: RegionRecord[] }>,
  key: string,
): RegionRecord | undefined {
  for (const group of fresh.values()) {
    const found = group.records.find((record) => record.key === key);
    if (found) return found;
  }
  return undefined;
}
