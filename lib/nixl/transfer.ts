/** NIXL transfer requests and prepared descriptor lists. Created by `NixlAgent`. */
import type { NativeHandle } from '../binding.js';
import { native } from '../binding.js';
import { awaitNative, callNative, DisposedError, invalidArgument } from '../errors.js';

import type { Holder, RegionRecord, RegistrationTable } from './registration-table.js';

/** Direction of a transfer: READ brings remote data into local memory, WRITE sends it. */
export type NixlOp = 'READ' | 'WRITE';

/** State of a transfer request. */
export type NixlTransferState = 'ready' | 'in-flight' | 'done' | 'failed' | 'released';

/** @internal What requests and lists need from their agent. */
export interface AgentLink {
  handle(): NativeHandle;
  table: RegistrationTable;
  forget(child: NixlTransfer | NixlPreparedList): void;
}

/** Options of `transfer.post()`. */
export interface NixlPostOptions {
  /** Aborting releases (cancels) the request; the promise then rejects with NIXL_ERR_CANCELED. */
  signal?: AbortSignal;
}

/**
 * A transfer request: post it, await it, post it again, release it. It holds the registrations
 * of the local memory it moves, so that memory cannot be deregistered or freed under it.
 */
export class NixlTransfer implements Disposable, Holder {
  /** READ or WRITE. */
  readonly op: NixlOp;
  /** Number of descriptors on each side. */
  readonly count: number;

  readonly #link: AgentLink;
  readonly #records: RegionRecord[];
  #handle: NativeHandle | undefined;
  #inFlight = false;
  #releasedBecause: string | undefined;

  /** @internal */
  constructor(
    link: AgentLink,
    handle: NativeHandle,
    op: NixlOp,
    count: number,
    records: RegionRecord[],
  ) {
    this.#link = link;
    this.#handle = handle;
    this.op = op;
    this.count = count;
    this.#records = records;
    link.table.hold(this, records);
  }

  /** `ready` before the first post, then `in-flight`, `done` or `failed`; `released` at the end. */
  get state(): NixlTransferState {
    if (this.#handle === undefined) return 'released';
    return callNative(() => native().nixlXferState(this.#handle!));
  }

  /** @internal True while posted and not finished. */
  get busy(): boolean {
    return this.#inFlight;
  }

  /**
   * Posts the request and resolves when the transfer completed. Progress is polled on a native
   * thread; the event loop is never blocked. A request can be posted again once it settled.
   *
   * @throws {DisposedError} `ERR_DMEM_NIXL_XFER_RELEASED` once released (also after its memory
   *   was freed), `ERR_DMEM_NIXL_AGENT_CLOSED` after the agent closed.
   * @throws {BusyError} `ERR_DMEM_NIXL_IN_FLIGHT` while a previous post is still in flight.
   * @throws {NixlError} with the NIXL status name (`NIXL_ERR_BACKEND`, ...) and `operation` when
   *   NIXL refuses the post or the transfer fails; `NIXL_ERR_CANCELED` when it was released or
   *   aborted while in flight. A failed transfer never resolves.
   */
  async post(options: NixlPostOptions = {}): Promise<void> {
    const handle = this.#liveHandle();
    const { signal } = options;
    signal?.throwIfAborted();
    const abort = () => {
      try {
        this.release();
      } catch {
        // NIXL could not cancel; the transfer settles on its own.
      }
    };
    this.#inFlight = true;
    signal?.addEventListener('abort', abort, { once: true });
    try {
      await awaitNative(() => native().nixlPost(handle));
    } finally {
      this.#inFlight = false;
      signal?.removeEventListener('abort', abort);
    }
  }

  /**
   * Releases the request (cancelling it when in flight) and the registrations it held.
   * Idempotent.
   *
   * @throws {NixlError} when NIXL cannot cancel a transfer in flight; the request stays usable.
   */
  release(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    callNative(() => native().nixlReleaseXfer(handle));
    this.#handle = undefined;
    this.#link.forget(this);
    this.#link.table.release(this, this.#records);
  }

  /** Same as `release()`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /** @internal The memory under it is going away: release now, remember why. */
  invalidate(reason: string): void {
    this.#releasedBecause = reason;
    try {
      this.release();
    } catch {
      this.#handle = undefined;
      this.#link.forget(this);
      this.#link.table.release(this, this.#records);
    }
  }

  #liveHandle(): NativeHandle {
    if (this.#handle === undefined) {
      throw new DisposedError(
        'ERR_DMEM_NIXL_XFER_RELEASED',
        `The transfer request was released${this.#releasedBecause ? ` (${this.#releasedBecause})` : ''}`,
      );
    }
    return this.#handle;
  }
}

/**
 * A descriptor list prepared once (local side, or a target side) from which `makeTransfer()`
 * builds many requests cheaply by index.
 */
export class NixlPreparedList implements Disposable, Holder {
  /** Number of descriptors; indices run from 0 to count - 1. */
  readonly count: number;
  /** The agent whose memory it describes: `''` for the local side. */
  readonly target: string;

  readonly #link: AgentLink;
  readonly #records: RegionRecord[];
  #handle: NativeHandle | undefined;

  /** @internal */
  constructor(
    link: AgentLink,
    handle: NativeHandle,
    count: number,
    target: string,
    records: RegionRecord[],
  ) {
    this.#link = link;
    this.#handle = handle;
    this.count = count;
    this.target = target;
    this.#records = records;
    link.table.hold(this, records);
  }

  /** True once released. */
  get released(): boolean {
    return this.#handle === undefined;
  }

  /** @internal Prepared lists never move data themselves. */
  get busy(): boolean {
    return false;
  }

  /** @internal The native handle. @throws {DisposedError} once released. */
  handle(): NativeHandle {
    if (this.#handle === undefined) {
      throw new DisposedError('ERR_DMEM_NIXL_LIST_RELEASED', 'The prepared list was released');
    }
    return this.#handle;
  }

  /** @internal The records it holds (transfers made from it hold them too). */
  get records(): readonly RegionRecord[] {
    return this.#records;
  }

  /** @internal Checks indices against the list. */
  indices(indices: readonly number[], name: string): Int32Array {
    if (!Array.isArray(indices) || indices.length === 0) {
      throw invalidArgument(name, 'a non-empty array of indices', indices);
    }
    indices.forEach((index, i) => {
      if (!Number.isInteger(index) || index < 0 || index >= this.count) {
        throw invalidArgument(`${name}[${i}]`, `an integer from 0 to ${this.count - 1}`, index);
      }
    });
    return Int32Array.from(indices);
  }

  /** Releases the list and the registrations it held. Idempotent. */
  release(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    this.#handle = undefined;
    try {
      callNative(() => native().nixlReleasePrepared(handle));
    } finally {
      this.#link.forget(this);
      this.#link.table.release(this, this.#records);
    }
  }

  /** Same as `release()`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /** @internal */
  invalidate(): void {
    try {
      this.release();
    } catch {
      // Already forgotten by release()'s finally.
    }
  }
}
