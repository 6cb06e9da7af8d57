/**
 * Agent options and backend parameters. NIXL ignores unknown backend keys and reports a bad value
 * only as NIXL_ERR_BACKEND plus a log line, and plugins declare keys they never read (UCX's
 * `ucx_devices`); so we check parameters against our own table of the keys each engine actually
 * reads (ai-dynamo/nixl, read at 1.4).
 */
import type { VendorMode } from '../env.js';
import { checkOptionKeys, InvalidArgumentError, invalidArgument } from '../errors.js';

import type { NativeAgentConfig } from './native.js';

/** Options of `NixlAgent.create()`. */
export interface NixlAgentOptions {
  /**
   * Let backends run their own progress thread (UCX does). Defaults to `false`, NIXL's C++
   * default; transfers are progressed by our poll thread either way, but a UCX target that is
   * written to over TCP needs it.
   */
  progressThread?: boolean;
  /**
   * Start NIXL's metadata listener on `listenPort` (TCP, bound to every interface). Defaults to
   * `false`. Peers' metadata is trusted input: enable it only on a private network.
   */
  listener?: boolean;
  /** Port of the listener. Defaults to `8888`. */
  listenPort?: number;
  /**
   * NIXL's own locking: `none`, `strict` (one lock) or `rw`. Defaults to `none`: this package
   * already serialises every call on an agent.
   */
  threadSync?: 'none' | 'strict' | 'rw';
  /** Period of the progress thread in microseconds. Defaults to `0`. */
  progressDelayUs?: number;
  /** Period of the listener thread in microseconds. Defaults to `100000`. */
  listenerDelayUs?: number;
  /** Capture transfer telemetry (`NIXL_TELEMETRY_ENABLE` overrides it). Defaults to `false`. */
  telemetry?: boolean;
  /** NIXL mode for this call; defaults to `DYNAMO_MEMORY_NIXL`, else `auto`. */
  mode?: VendorMode;
}

const agentKeys = [
  'progressThread',
  'listener',
  'listenPort',
  'threadSync',
  'progressDelayUs',
  'listenerDelayUs',
  'telemetry',
  'mode',
] as const;

/** @internal Validates agent options and fills in the defaults. */
export function agentConfig(options: NixlAgentOptions): NativeAgentConfig {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'an object', options);
  }
  checkOptionKeys(options, agentKeys, 'NixlAgent.create()');
  const sync = options.threadSync ?? 'none';
  if (!['none', 'strict', 'rw'].includes(sync)) {
    throw invalidArgument('options.threadSync', 'one of none, strict, rw', sync);
  }
  if (
    options.mode !== undefined &&
    (typeof options.mode !== 'string' || !['auto', 'require', 'off'].includes(options.mode))
  ) {
    throw invalidArgument('options.mode', 'one of auto, require, off', options.mode);
  }
  return {
    progressThread: booleanOption(options.progressThread, 'progressThread', false),
    listener: booleanOption(options.listener, 'listener', false),
    listenPort: integerOption(options.listenPort, 'options.listenPort', 8888, 1, 65535),
    threadSync: ['none', 'strict', 'rw'].indexOf(sync),
    progressDelayUs: integerOption(
      options.progressDelayUs,
      'options.progressDelayUs',
      0,
      0,
      2 ** 31 - 1,
    ),
    listenerDelayUs: integerOption(
      options.listenerDelayUs,
      'options.listenerDelayUs',
      100000,
      0,
      2 ** 31 - 1,
    ),
    telemetry: booleanOption(options.telemetry, 'telemetry', false),
  };
}

/** A backend parameter value; booleans and numbers are written the way NIXL parses them. */
export type NixlParamValue = string | number | boolean;

/** Parameters of `agent.createBackend()`: NIXL's keys for that backend type. */
export type NixlBackendParams = Record<string, NixlParamValue>;

type ParamRule =
  | { type: 'boolean' }
  | { type: 'integer'; min: number; max: number }
  | { type: 'string' }
  | { type: 'enum'; values: readonly string[] };

const bool: ParamRule = { type: 'boolean' };
const str: ParamRule = { type: 'string' };
const int = (min: number, max = Number.MAX_SAFE_INTEGER): ParamRule => ({
  type: 'integer',
  min,
  max,
});

/**
 * The parameter keys each backend's engine reads, with their types. POSIX also accepts `engine`
 * (`aio`, `uring` or `posix_aio`), our shorthand for setting one of the `use_*` keys.
 */
export const knownBackendParams: Readonly<Record<string, Readonly<Record<string, ParamRule>>>> = {
  POSIX: {
    engine: { type: 'enum', values: ['aio', 'uring', 'posix_aio'] },
    use_aio: bool,
    use_uring: bool,
    use_posix_aio: bool,
    ios_pool_size: int(0, 65536),
    kernel_queue_size: int(0, 1024),
  },
  UCX: {
    device_list: str,
    num_workers: int(1),
    num_threads: int(0),
    split_batch_size: int(1),
    ucx_error_handling_mode: { type: 'enum', values: ['peer', 'none'] },
    ucx_num_device_channels: int(1),
    engine_config: str,
    ucx_ep_close_force: bool,
  },
  GDS: {
    batch_pool_size: int(1),
    batch_limit: int(1),
    max_request_size: int(1),
  },
  GDS_MT: {
    thread_count: int(1),
  },
};

// Keys people reach for that the engines do not read, with what to use instead.
const misleadingKeys: Record<string, string> = {
  'UCX.ucx_devices': 'UCX declares ucx_devices but reads device_list',
};

/**
 * @internal Checks a backend's parameters against our table and converts them to NIXL's strings.
 * Backend types outside the table (OBJ, LIBFABRIC, ...) pass string values through unchecked.
 *
 * @throws {InvalidArgumentError} `ERR_DMEM_UNKNOWN_OPTION` for a key the engine does not read,
 *   `ERR_DMEM_INVALID_ARGUMENT` for a value of the wrong type or range, or `engine` together
 *   with a `use_*` key.
 */
export function backendParams(type: string, params: NixlBackendParams): Record<string, string> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw invalidArgument('params', 'an object', params);
  }
  const table = knownBackendParams[type];
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    if (!table) {
      if (typeof value !== 'string') throw invalidArgument(`params.${key}`, 'a string', value);
      out[key] = value;
      continue;
    }
    const rule = table[key];
    if (!rule) {
      const hint = misleadingKeys[`${type}.${key}`];
      throw new InvalidArgumentError(
        'ERR_DMEM_UNKNOWN_OPTION',
        `Unknown ${type} backend parameter ${JSON.stringify(key)}` +
          (hint ? ` (${hint})` : '') +
          `; expected one of ${Object.keys(table).join(', ')}`,
      );
    }
    out[key] = paramText(rule, value, `params.${key}`);
  }

  if (type === 'POSIX' && out.engine !== undefined) {
    if (
      out.use_aio !== undefined ||
      out.use_uring !== undefined ||
      out.use_posix_aio !== undefined
    ) {
      throw new InvalidArgumentError(
        'ERR_DMEM_INVALID_ARGUMENT',
        'Expected either params.engine or the use_* keys for POSIX, received both',
      );
    }
    out[`use_${out.engine}`] = 'true';
    delete out.engine;
  }
  return out;
}

function paramText(rule: ParamRule, value: unknown, name: string): string {
  switch (rule.type) {
    case 'boolean':
      if (typeof value === 'boolean') return String(value);
      if (value === 'true' || value === 'false') return value;
      throw invalidArgument(name, 'a boolean', value);
    case 'integer': {
      const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      if (
        typeof number !== 'number' ||
        !Number.isSafeInteger(number) ||
        number < rule.min ||
        number > rule.max
      ) {
        throw invalidArgument(name, `an integer from ${rule.min} to ${rule.max}`, value);
      }
      return String(number);
    }
    case 'string':
      if (typeof value !== 'string') throw invalidArgument(name, 'a string', value);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !rule.values.includes(value)) {
        throw invalidArgument(name, `one of ${rule.values.join(', ')}`, value);
      }
      return value;
  }
}

function booleanOption(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgument(`options.${name}`, 'a boolean', value);
  return value;
}

function integerOption(
  value: unknown,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}
