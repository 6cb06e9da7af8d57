/**
 * `NixlAgent`: one NIXL agent with its backends, registrations and transfers. Releasing an
 * agent releases its transfer requests, then its prepared lists, then its registrations, then
 * the agent itself: NIXL does not own requests, and its destructor would otherwise free them
 * under running engines.
 */
import type { NativeHandle } from '../binding.js';
import { native } from '../binding.js';
import {
  callNative,
  checkOptionKeys,
  DisposedError,
  InvalidArgumentError,
  invalidArgument,
  NixlError,
} from '../errors.js';

import './kinds.js';
import { requireNixl } from './loader.js';
import {
  type NixlDescriptor,
  type NixlRegionSpec,
  packDescriptors,
  plainDescriptor,
  type Region,
  remoteDescriptor,
  resolveRegion,
} from './memory.js';
import { memTypeNumber, type NativeBackendInfo } from './native.js';
import {
  agentConfig,
  backendParams,
  type NixlAgentOptions,
  type NixlBackendParams,
} from './options.js';
import { type RegionRecord, RegistrationTable } from './registration-table.js';
import { NixlRegistration } from './registration.js';
import {
  isPlainDescriptor,
  listOf,
  matchLengths,
  oneMemType,
  opOf,
  type Segments,
  type Side,
  unsupported,
} from './segments.js';
import { type AgentLink, type NixlOp, NixlPreparedList, NixlTransfer } from './transfer.js';

/** A backend of an agent, as NIXL reports it once created. */
export interface NixlBackendInfo {
  /** The plugin type: `POSIX`, `UCX`, `GDS`, `GDS_MT`, ... */
  type: string;
  /** Memory types it registers (`DRAM`, `VRAM`, `FILE`, ...). */
  memTypes: string[];
  /** Its parameters as NIXL reports them. */
  params: Record<string, string>;
}

/** Options of `agent.register()`. */
export interface NixlRegisterOptions {
  /**
   * Backends to register with, by type. Defaults to every backend of the agent that supports the
   * region's memory type. All must succeed, or nothing stays registered.
   */
  backends?: readonly string[];
}

/** A side of a transfer that lives on another agent: descriptors its owner shared. */
export type NixlRemoteSegment = NixlDescriptor;

/**
 * A local side of a transfer: registered memory (whole, or `{ memory, offset, length }`), or a
 * registration, which stands for all its regions in order.
 */
export type NixlSegment = NixlRegionSpec | NixlRegistration;

/** Options of `agent.createTransfer()` and `agent.makeTransfer()`. */
export interface NixlTransferOptions {
  /**
   * The agent that owns the remote side. Defaults to this agent's own name (local targets such
   * as files, and loopback).
   */
  remoteAgent?: string;
  /** Backend to use, by type. Defaults to NIXL's choice among those that can serve both sides. */
  backend?: string;
  /** A notification delivered to the remote agent when the transfer completes (UCX). */
  notification?: string | Uint8Array;
}

const transferKeys = ['remoteAgent', 'backend', 'notification'];

/**
 * A NIXL agent.
 *
 * @example
 * const agent = NixlAgent.create('worker-0');
 * agent.createBackend('POSIX', { engine: 'posix_aio' });
 * using reg = agent.register([buffer, file]);
 * await agent.transfer('WRITE', buffer, file);
 * agent.close();
 */
export class NixlAgent implements Disposable {
  /** The agent's name, unique among the peers it exchanges metadata with. */
  readonly name: string;

  #handle: NativeHandle | undefined;
  readonly #backends: NixlBackendInfo[] = [];
  readonly #table: RegistrationTable;
  readonly #registrations = new Set<NixlRegistration>();
  readonly #transfers = new Set<NixlTransfer>();
  readonly #prepared = new Set<NixlPreparedList>();
  readonly #link: AgentLink;

  /**
   * Creates an agent.
   *
   * @param name Non-empty, unique in the process and among peers.
   * @throws {NixlUnavailableError} when NIXL cannot be used here (any mode; `off` included), with
   *   the code saying why (`ERR_DMEM_NIXL_NOT_INSTALLED`, ...).
   * @throws {InvalidArgumentError} `ERR_DMEM_INVALID_ARGUMENT` / `ERR_DMEM_UNKNOWN_OPTION`.
   * @throws {NixlError} when NIXL refuses (name in use, listener port taken: NIXL_ERR_BACKEND).
   */
  static create(name: string, options: NixlAgentOptions = {}): NixlAgent {
    if (typeof name !== 'string' || name.length === 0) {
      throw invalidArgument('name', 'a non-empty string', name);
    }
    const config = agentConfig(options);
    requireNixl(options.mode);
    return new NixlAgent(
      name,
      callNative(() => native().nixlCreateAgent(name, config)),
    );
  }

  /** @internal Use `NixlAgent.create()`. */
  constructor(name: string, handle: NativeHandle) {
    this.name = name;
    this.#handle = handle;
    this.#table = new RegistrationTable({
      register: (memType, descs, backend) =>
        callNative(() => native().nixlRegister(this.#live(), memType, descs, backend)),
      deregister: (memType, descs, backend) =>
        callNative(() => native().nixlDeregister(this.#live(), memType, descs, backend)),
    });
    this.#link = {
      handle: () => this.#live(),
      table: this.#table,
      forget: (child) => {
        if (child instanceof NixlTransfer) this.#transfers.delete(child);
        else this.#prepared.delete(child);
      },
    };
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#handle === undefined;
  }

  /** The backends created so far, in creation order (NIXL's order of preference). */
  get backends(): readonly NixlBackendInfo[] {
    return this.#backends;
  }

  /** (region, backend) registrations alive in NIXL for this agent. */
  get registeredRegions(): number {
    return this.#table.size;
  }

  /** The plugins NIXL can load. */
  plugins(): string[] {
    return callNative(() => native().nixlPlugins(this.#live()));
  }

  /**
   * A plugin's declared memory types and default parameters. Plugins' declarations are
   * incomplete (POSIX declares no parameters, UCX declares one it never reads); see
   * `knownBackendParams` for what each engine reads.
   *
   * @throws {NixlError} `NIXL_ERR_BACKEND` for an unknown plugin.
   */
  pluginParams(plugin: string): NativeBackendInfo {
    if (typeof plugin !== 'string') throw invalidArgument('plugin', 'a string', plugin);
    return callNative(() => native().nixlPluginParams(this.#live(), plugin));
  }

  /**
   * Creates a backend. Parameters are checked against `knownBackendParams` for POSIX, UCX, GDS
   * and GDS_MT; other types get their string parameters passed through.
   *
   * @throws {InvalidArgumentError} `ERR_DMEM_UNKNOWN_OPTION` for a key the engine does not read,
   *   `ERR_DMEM_INVALID_ARGUMENT` for a bad value, `ERR_DMEM_NIXL_BACKEND_EXISTS` for a second
   *   backend of one type.
   * @throws {NixlError} `NIXL_ERR_BACKEND` when the plugin is missing or refuses to start (an I/O
   *   engine that was not built, GDS without a GPU, ...).
   */
  createBackend(type: string, params: NixlBackendParams = {}): NixlBackendInfo {
    if (typeof type !== 'string' || !/^[A-Z0-9_]+$/.test(type)) {
      throw invalidArgument('type', 'a plugin name such as POSIX, UCX, GDS or GDS_MT', type);
    }
    const checked = backendParams(type, params);
    const info = callNative(() => native().nixlCreateBackend(this.#live(), type, checked));
    const backend = { type, memTypes: info.memTypes, params: info.params };
    this.#backends.push(backend);
    return backend;
  }

  /**
   * Registers memory with NIXL: host buffers (DRAM), device buffers (VRAM) and O_DIRECT files
   * (FILE), whole or in part, alone or in a list. Registering a region that is already
   * registered on a backend shares that registration (reference counted). While registered, the
   * memory is held: freeing or closing it deregisters it first (and releases transfer requests
   * that used it).
   *
   * @throws {InvalidArgumentError} for something that is not NIXL memory or a bad range.
   * @throws {DisposedError} when the memory was already freed or closed.
   * @throws {NixlError} `ERR_DMEM_NIXL_NO_BACKEND` when no backend (or not a named one) supports
   *   the memory type; NIXL's status name when NIXL refuses.
   */
  register(memory: Segments<NixlRegionSpec>, options: NixlRegisterOptions = {}): NixlRegistration {
    this.#live();
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('options', 'an object', options);
    }
    checkOptionKeys(options, ['backends'], 'NixlAgent#register()');
    const specs = Array.isArray(memory) ? memory : [memory];
    if (specs.length === 0) throw invalidArgument('memory', 'at least one region', memory);
    const named = options.backends;
    if (named !== undefined && (!Array.isArray(named) || named.length === 0)) {
      throw invalidArgument('options.backends', 'a non-empty array of backend types', named);
    }

    const regions = specs.map((spec, i) => resolveRegion(spec, `memory[${i}]`));
    const plan = regions.map((region) => ({ region, backends: this.#backendsFor(region, named) }));
    const registration = new NixlRegistration(this, this.#table, regions, plan);
    this.#registrations.add(registration);
    return registration;
  }

  /** This agent's metadata, to hand to peers (needs a backend that supports remote access). */
  localMetadata(): Buffer {
    return callNative(() => native().nixlLocalMetadata(this.#live()));
  }

  /**
   * Loads a peer's metadata; returns the peer's name. Metadata is trusted input: it carries
   * addresses and keys.
   *
   * @throws {NixlError} `NIXL_ERR_INVALID_PARAM` for this agent's own metadata, `NIXL_ERR_BACKEND`
   *   for a blob NIXL cannot read.
   */
  loadRemoteMetadata(metadata: Uint8Array): string {
    if (!(metadata instanceof Uint8Array) || metadata.length === 0) {
      throw invalidArgument('metadata', 'a non-empty Uint8Array', metadata);
    }
    return callNative(() => native().nixlLoadRemoteMetadata(this.#live(), metadata));
  }

  /** Forgets a peer's metadata and disconnects; transfers to it fail afterwards. */
  invalidateRemote(agent: string): void {
    if (typeof agent !== 'string' || agent === '') {
      throw invalidArgument('agent', 'a non-empty string', agent);
    }
    callNative(() => native().nixlInvalidateRemote(this.#live(), agent));
  }

  /**
   * Notifications received since the last call (from transfers that carried one, and from
   * `sendNotification()`), grouped by sender in arrival order. Polling it also makes UCX progress,
   * which a target without a progress thread needs.
   *
   * @throws {NixlError} `NIXL_ERR_BACKEND` when no backend of the agent supports notifications
   *   (POSIX, GDS and GDS_MT do not; UCX does).
   */
  notifications(): Map<string, Buffer[]> {
    return new Map(callNative(() => native().nixlNotifications(this.#live())));
  }

  /**
   * Sends a standalone notification to a peer whose metadata is loaded (or to this agent).
   *
   * @throws {NixlError} `NIXL_ERR_BACKEND` when no backend can deliver it, or the peer is unknown.
   */
  sendNotification(
    remoteAgent: string,
    message: string | Uint8Array,
    options: { backend?: string } = {},
  ): void {
    if (typeof remoteAgent !== 'string' || remoteAgent === '') {
      throw invalidArgument('remoteAgent', 'a non-empty string', remoteAgent);
    }
    const bytes = typeof message === 'string' ? new TextEncoder().encode(message) : message;
    if (!(bytes instanceof Uint8Array)) {
      throw invalidArgument('message', 'a string or Uint8Array', message);
    }
    checkOptionKeys(options, ['backend'], 'NixlAgent#sendNotification()');
    const backend = this.#backendOption(options.backend);
    callNative(() => native().nixlSendNotification(this.#live(), remoteAgent, bytes, backend));
  }

  /**
   * Creates a transfer request between local registered memory and a remote side. Element `i`
   * of `local` moves to or from element `i` of `remote`; lengths must match pairwise. The remote
   * side is this agent's own memory (objects or specs: files, loopback) or, for another agent,
   * descriptors that agent shared (`registration.descriptors`).
   *
   * @throws {InvalidArgumentError} for mismatched counts, lengths or memory types.
   * @throws {NixlError} `ERR_DMEM_NIXL_NOT_REGISTERED` when local memory is not registered with
   *   this agent; NIXL's status name when NIXL refuses (C API: always `NIXL_ERR_BACKEND`).
   */
  createTransfer(
    op: NixlOp,
    local: Segments<NixlSegment>,
    remote: Segments<NixlSegment | NixlRemoteSegment>,
    options: NixlTransferOptions = {},
  ): NixlTransfer {
    const handle = this.#live();
    const opNumber = opOf(op);
    const settings = this.#transferOptions(options);
    const localSide = this.#localSide(local, 'local', settings.backend);
    const remoteSide = this.#remoteSide(remote, settings.remoteAgent, settings.backend);
    matchLengths(localSide.descs, remoteSide.descs);

    const request = callNative(() =>
      native().nixlCreateXfer(
        handle,
        opNumber,
        memTypeNumber[localSide.memType],
        packDescriptors(localSide.descs),
        memTypeNumber[remoteSide.memType],
        packDescriptors(remoteSide.descs),
        settings.remoteAgent,
        settings.backend,
        settings.notification,
      ),
    );
    const records = [...localSide.records, ...remoteSide.records];
    const transfer = new NixlTransfer(this.#link, request, op, localSide.descs.length, records);
    this.#transfers.add(transfer);
    return transfer;
  }

  /**
   * Creates, posts and releases a transfer: the one-shot form of `createTransfer()`.
   * @throws see `createTransfer()` and `NixlTransfer#post()`.
   */
  async transfer(
    op: NixlOp,
    local: Segments<NixlSegment>,
    remote: Segments<NixlSegment | NixlRemoteSegment>,
    options: NixlTransferOptions = {},
  ): Promise<void> {
    const request = this.createTransfer(op, local, remote, options);
    try {
      await request.post();
    } finally {
      request.release();
    }
  }

  /**
   * Prepares a descriptor list once for many `makeTransfer()` calls. Without `remoteAgent` it is
   * the local side (registered memory of this agent); with it, the target side on that agent
   * (this agent's own name for files and loopback).
   *
   * @throws as `createTransfer()` for its side.
   */
  prepare(
    segments: Segments<NixlSegment | NixlRemoteSegment>,
    options: { remoteAgent?: string; backend?: string } = {},
  ): NixlPreparedList {
    const handle = this.#live();
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('options', 'an object', options);
    }
    checkOptionKeys(options, ['remoteAgent', 'backend'], 'NixlAgent#prepare()');
    const backend = this.#backendOption(options.backend);
    const remoteAgent = options.remoteAgent;
    if (remoteAgent !== undefined && (typeof remoteAgent !== 'string' || remoteAgent === '')) {
      throw invalidArgument('options.remoteAgent', 'a non-empty string', remoteAgent);
    }
    const side =
      remoteAgent === undefined
        ? this.#localSide(segments as Segments<NixlSegment>, 'segments', backend)
        : this.#remoteSide(segments, remoteAgent, backend);
    const list = callNative(() =>
      native().nixlPrepare(
        handle,
        remoteAgent ?? '',
        memTypeNumber[side.memType],
        packDescriptors(side.descs),
        backend,
      ),
    );
    const prepared = new NixlPreparedList(
      this.#link,
      list,
      side.descs.length,
      remoteAgent ?? '',
      side.records,
    );
    this.#prepared.add(prepared);
    return prepared;
  }

  /**
   * Makes a transfer request from two prepared lists: `local[localIndices[i]]` pairs with
   * `remote[remoteIndices[i]]`. Consecutive indices may be merged by NIXL.
   *
   * @throws {InvalidArgumentError} for indices out of range or lists of another agent.
   * @throws {DisposedError} `ERR_DMEM_NIXL_LIST_RELEASED` for a released list.
   * @throws {NixlError} with NIXL's status name when NIXL refuses.
   */
  makeTransfer(
    op: NixlOp,
    local: NixlPreparedList,
    localIndices: readonly number[],
    remote: NixlPreparedList,
    remoteIndices: readonly number[],
    options: Omit<NixlTransferOptions, 'remoteAgent'> = {},
  ): NixlTransfer {
    const handle = this.#live();
    const opNumber = opOf(op);
    for (const [name, list] of [
      ['local', local],
      ['remote', remote],
    ] as const) {
      if (!(list instanceof NixlPreparedList) || !this.#prepared.has(list)) {
        if (list instanceof NixlPreparedList && list.released) list.handle();
        throw invalidArgument(name, 'a prepared list of this agent', list);
      }
    }
    if (local.target !== '') throw invalidArgument('local', 'a local-side prepared list', local);
    const left = local.indices(localIndices, 'localIndices');
    const right = remote.indices(remoteIndices, 'remoteIndices');
    if (left.length !== right.length) {
      throw invalidArgument(
        'remoteIndices',
        `${left.length} indices like localIndices`,
        right.length,
      );
    }
    const settings = this.#transferOptions(options);
    const request = callNative(() =>
      native().nixlMakeXfer(
        handle,
        opNumber,
        local.handle(),
        left,
        remote.handle(),
        right,
        settings.backend,
        settings.notification,
      ),
    );
    const records = [...local.records, ...remote.records];
    const transfer = new NixlTransfer(this.#link, request, op, left.length, records);
    this.#transfers.add(transfer);
    return transfer;
  }

  /**
   * Releases transfer requests (cancelling those in flight; their promises reject with
   * `NIXL_ERR_CANCELED`), prepared lists and registrations, in that order, then the agent.
   * Idempotent.
   */
  close(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    for (const transfer of [...this.#transfers]) transfer.invalidate('the agent was closed');
    for (const prepared of [...this.#prepared]) prepared.invalidate();
    for (const registration of this.#registrations) registration.invalidate();
    this.#registrations.clear();
    try {
      this.#table.releaseAll();
    } catch {
      // NIXL's destructor deregisters whatever is left.
    }
    this.#handle = undefined;
    callNative(() => native().nixlCloseAgent(handle));
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal */
  forgetRegistration(registration: NixlRegistration): void {
    this.#registrations.delete(registration);
  }

  #live(): NativeHandle {
    if (this.#handle === undefined) {
      throw new DisposedError(
        'ERR_DMEM_NIXL_AGENT_CLOSED',
        `The NIXL agent ${this.name} is closed`,
      );
    }
    return this.#handle;
  }

  #backendsFor(region: Region, named: readonly string[] | undefined): string[] {
    if (named !== undefined) {
      for (const type of named) {
        const backend = this.#backends.find((candidate) => candidate.type === type);
        if (!backend) {
          throw new NixlError(
            'ERR_DMEM_NIXL_NO_BACKEND',
            `Agent ${this.name} has no ${String(type)} backend; create it first ` +
              `(backends: ${this.#backendList()})`,
          );
        }
        if (!backend.memTypes.includes(region.memType)) {
          throw unsupported(region, `the ${type} backend registers ${backend.memTypes.join(', ')}`);
        }
      }
      return [...new Set(named)];
    }
    const capable = this.#backends.filter((backend) => backend.memTypes.includes(region.memType));
    if (capable.length === 0) {
      throw unsupported(region, `no backend of agent ${this.name} does (${this.#backendList()})`);
    }
    return capable.map((backend) => backend.type);
  }

  #backendList(): string {
    return this.#backends.map((backend) => backend.type).join(', ') || 'none';
  }

  #backendOption(backend: unknown): string {
    if (backend === undefined) return '';
    if (typeof backend !== 'string' || !this.#backends.some((b) => b.type === backend)) {
      throw invalidArgument(
        'options.backend',
        `a backend of this agent (${this.#backendList()})`,
        backend,
      );
    }
    return backend;
  }

  #transferOptions(options: NixlTransferOptions) {
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('options', 'an object', options);
    }
    for (const key of Object.keys(options)) {
      if (!transferKeys.includes(key)) {
        throw new InvalidArgumentError(
          'ERR_DMEM_UNKNOWN_OPTION',
          `Unknown option ${JSON.stringify(key)} for a transfer; expected one of ${transferKeys.join(', ')}`,
        );
      }
    }
    const remoteAgent = options.remoteAgent ?? this.name;
    if (typeof remoteAgent !== 'string' || remoteAgent === '') {
      throw invalidArgument('options.remoteAgent', 'a non-empty string', remoteAgent);
    }
    let notification: Uint8Array | null = null;
    if (typeof options.notification === 'string') {
      notification = new TextEncoder().encode(options.notification);
    } else if (options.notification instanceof Uint8Array) {
      notification = options.notification;
    } else if (options.notification !== undefined) {
      throw invalidArgument('options.notification', 'a string or Uint8Array', options.notification);
    }
    return { remoteAgent, backend: this.#backendOption(options.backend), notification };
  }

  // Local memory must be registered here; the transfer holds those registrations.
  #localSide(segments: Segments<NixlSegment>, name: string, backend: string): Side {
    const regions = this.#expand(listOf(segments, name), name, false);
    return this.#registeredSide(regions, name, backend);
  }

  // Registrations stand for all their regions; everything else is resolved as memory.
  #expand(list: readonly unknown[], name: string, plain: boolean): NixlDescriptor[] {
    return list.flatMap((spec, i): NixlDescriptor[] => {
      if (spec instanceof NixlRegistration) {
        if (spec.agent !== this) {
          throw invalidArgument(`${name}[${i}]`, `a registration of agent ${this.name}`, spec);
        }
        return [...spec.regions()];
      }
      if (plain && isPlainDescriptor(spec)) return [remoteDescriptor(spec, `${name}[${i}]`)];
      return [resolveRegion(spec, `${name}[${i}]`)];
    });
  }

  #remoteSide(
    segments: Segments<NixlSegment | NixlRemoteSegment>,
    remoteAgent: string,
    backend: string,
  ): Side {
    const list = listOf(segments, 'remote');
    if (remoteAgent === this.name) {
      // Our own memory (files, loopback): the same checks as the local side.
      return this.#registeredSide(this.#expand(list, 'remote', true), 'remote', backend);
    }
    const descs = list.map((spec, i) => remoteDescriptor(spec, `remote[${i}]`));
    return { memType: oneMemType(descs, 'remote'), descs, records: [] };
  }

  #registeredSide(descs: NixlDescriptor[], name: string, backend: string): Side {
    const memType = oneMemType(descs, name);
    const records: RegionRecord[] = [];
    descs.forEach((desc, i) => {
      const covering = this.#table
        .covering(desc)
        .filter((record) => backend === '' || record.backend === backend);
      if (covering.length === 0) {
        throw new NixlError(
          'ERR_DMEM_NIXL_NOT_REGISTERED',
          `${name}[${i}] (${desc.memType}, ${desc.length} bytes at ${desc.addr}) is not ` +
            `registered with agent ${this.name}${backend ? ` on ${backend}` : ''}; register it first`,
        );
      }
      records.push(...covering);
    });
    return { memType, descs: descs.map(plainDescriptor), records };
  }
}
