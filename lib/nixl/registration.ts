/** `NixlRegistration`: the handle of one `agent.register()` call. */
import { DisposedError } from '../errors.js';

import type { NixlAgent } from './agent.js';
import { type NixlDescriptor, plainDescriptor, type Region } from './memory.js';
import type { Holder, RegionRecord, RegistrationTable } from './registration-table.js';

/**
 * The handle of one `agent.register()` call. Deregistering it (or disposing it) lets go of its
 * regions; each is deregistered from NIXL, on exactly the backends that registered it, once no
 * other registration or transfer holds it. Idempotent.
 */
export class NixlRegistration implements Disposable, Holder {
  /** The agent it belongs to. */
  readonly agent: NixlAgent;
  /** One plain descriptor per region, in the order given: share them with peers. */
  readonly descriptors: readonly NixlDescriptor[];
  /** The backends each region was registered with. */
  readonly backends: readonly string[];

  readonly #table: RegistrationTable;
  readonly #regions: readonly Region[];
  #records: RegionRecord[] | undefined;

  /** @internal Use `agent.register()`. */
  constructor(
    agent: NixlAgent,
    table: RegistrationTable,
    regions: readonly Region[],
    plan: readonly { region: Region; backends: readonly string[] }[],
  ) {
    this.agent = agent;
    this.#table = table;
    this.#regions = regions;
    this.descriptors = Object.freeze(regions.map(plainDescriptor));
    this.backends = Object.freeze([...new Set(plan.flatMap((entry) => entry.backends))]);
    this.#records = table.acquire(this, plan);
  }

  /** False once deregistered, or once its memory was freed or its agent closed. */
  get registered(): boolean {
    return this.#records !== undefined;
  }

  /**
   * @internal Its regions, for use as transfer segments.
   * @throws {DisposedError} `ERR_DMEM_NIXL_DEREGISTERED` once deregistered: a stale handle never
   *   moves data.
   */
  regions(): readonly Region[] {
    if (this.#records === undefined) {
      throw new DisposedError(
        'ERR_DMEM_NIXL_DEREGISTERED',
        'The NIXL registration was deregistered (or its memory freed, or its agent closed)',
      );
    }
    return this.#regions;
  }

  /** @internal Registrations do not move data. */
  get busy(): boolean {
    return false;
  }

  /**
   * Lets go of the regions. Idempotent: a second call does nothing.
   *
   * @throws {NixlError} with NIXL's status name when NIXL refuses a deregistration (the regions
   *   are forgotten anyway).
   */
  deregister(): void {
    const records = this.#records;
    if (records === undefined) return;
    this.#records = undefined;
    this.agent.forgetRegistration(this);
    this.#table.release(this, records);
  }

  /** Same as `deregister()`. */
  [Symbol.dispose](): void {
    this.deregister();
  }

  /** @internal Its memory is going away or its agent closes: forget, let go. */
  invalidate(): void {
    try {
      this.deregister();
    } catch {
      // Forgotten already; NIXL treats deregistration as best effort.
    }
  }
}
