import { describe, expect, it } from 'vitest';

import { InvalidArgumentError } from '../../lib/errors.js';
import { agentConfig, backendParams, knownBackendParams } from '../../lib/nixl/options.js';

function expectInvalid(call: () => unknown, code: string, message?: RegExp) {
  let thrown: unknown;
  try {
    call();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidArgumentError);
  expect(thrown).toMatchObject({ code });
  if (message) expect((thrown as Error).message).toMatch(message);
}

describe('agentConfig()', () => {
  it('fills in NIXL’s C++ defaults', () => {
    expect(agentConfig({})).toEqual({
      progressThread: false,
      listener: false,
      listenPort: 8888,
      threadSync: 0,
      progressDelayUs: 0,
      listenerDelayUs: 100000,
      telemetry: false,
    });
  });

  it('maps thread-sync names to NIXL’s numbers', () => {
    expect(agentConfig({ threadSync: 'strict' }).threadSync).toBe(1);
    expect(agentConfig({ threadSync: 'rw' }).threadSync).toBe(2);
  });

  it('rejects unknown keys with ERR_DMEM_UNKNOWN_OPTION', () => {
    expectInvalid(
      () => agentConfig({ progressThreads: true } as never),
      'ERR_DMEM_UNKNOWN_OPTION',
      /"progressThreads"/,
    );
  });

  it('rejects values of the wrong type or range with ERR_DMEM_INVALID_ARGUMENT', () => {
    expectInvalid(
      () => agentConfig({ listenPort: 70000 }),
      'ERR_DMEM_INVALID_ARGUMENT',
      /options\.listenPort to be an integer from 1 to 65535, received number 70000/,
    );
    expectInvalid(() => agentConfig({ listener: 'yes' as never }), 'ERR_DMEM_INVALID_ARGUMENT');
    expectInvalid(() => agentConfig({ threadSync: 'all' as never }), 'ERR_DMEM_INVALID_ARGUMENT');
    expectInvalid(() => agentConfig({ mode: 'maybe' as never }), 'ERR_DMEM_INVALID_ARGUMENT');
  });
});

describe('backendParams()', () => {
  it('writes booleans and integers the way NIXL parses them', () => {
    expect(backendParams('POSIX', { use_aio: true, ios_pool_size: 1024 })).toEqual({
      use_aio: 'true',
      ios_pool_size: '1024',
    });
    expect(backendParams('UCX', { num_workers: '4', ucx_error_handling_mode: 'none' })).toEqual({
      num_workers: '4',
      ucx_error_handling_mode: 'none',
    });
  });

  it('turns the POSIX engine shorthand into its use_* key', () => {
    expect(backendParams('POSIX', { engine: 'posix_aio' })).toEqual({ use_posix_aio: 'true' });
    expect(backendParams('POSIX', { engine: 'uring' })).toEqual({ use_uring: 'true' });
  });

  it('refuses the engine shorthand together with a use_* key', () => {
    expectInvalid(
      () => backendParams('POSIX', { engine: 'aio', use_uring: false }),
      'ERR_DMEM_INVALID_ARGUMENT',
      /either params\.engine or the use_\* keys/,
    );
  });

  it('rejects a key the engine does not read, listing the ones it does', () => {
    expectInvalid(
      () => backendParams('POSIX', { use_libaio: true }),
      'ERR_DMEM_UNKNOWN_OPTION',
      /Unknown POSIX backend parameter "use_libaio"; expected one of engine, use_aio/,
    );
  });

  it('explains keys that a plugin declares but never reads', () => {
    expectInvalid(
      () => backendParams('UCX', { ucx_devices: 'mlx5_0' }),
      'ERR_DMEM_UNKNOWN_OPTION',
      /UCX declares ucx_devices but reads device_list/,
    );
  });

  it('checks values against the table', () => {
    expectInvalid(
      () => backendParams('POSIX', { kernel_queue_size: 4096 }),
      'ERR_DMEM_INVALID_ARGUMENT',
      /params\.kernel_queue_size to be an integer from 0 to 1024/,
    );
    expectInvalid(() => backendParams('GDS_MT', { thread_count: 0 }), 'ERR_DMEM_INVALID_ARGUMENT');
    expectInvalid(() => backendParams('POSIX', { use_aio: 'yes' }), 'ERR_DMEM_INVALID_ARGUMENT');
    expectInvalid(
      () => backendParams('POSIX', { engine: 'io_uring' }),
      'ERR_DMEM_INVALID_ARGUMENT',
    );
    expectInvalid(() => backendParams('UCX', { device_list: 3 }), 'ERR_DMEM_INVALID_ARGUMENT');
  });

  it('passes string parameters of backends outside the table through unchecked', () => {
    expect(backendParams('OBJ', { bucket: 'kv', endpoint_override: 'http://minio' })).toEqual({
      bucket: 'kv',
      endpoint_override: 'http://minio',
    });
    expectInvalid(() => backendParams('OBJ', { port: 9000 }), 'ERR_DMEM_INVALID_ARGUMENT');
  });

  it('covers the backends the package documents', () => {
    expect(Object.keys(knownBackendParams)).toEqual(['POSIX', 'UCX', 'GDS', 'GDS_MT']);
  });

  it('rejects a params value that is not an object', () => {
    expectInvalid(() => backendParams('POSIX', [] as never), 'ERR_DMEM_INVALID_ARGUMENT');
  });
});
