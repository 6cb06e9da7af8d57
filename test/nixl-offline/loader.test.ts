// The loader and status paths without NIXL: nothing installed, a broken file, a library that
// lacks an entry point, NIXL's stub, and finally the stand-in C API. A loaded library stays
// loaded for the process, so the usable case runs last (vitest runs each file in its own
// process, and the tests of a file in order).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it, vi } from 'vitest';

import { NixlUnavailableError } from '../../lib/errors.js';
import {
  loadNixl,
  nixlCandidates,
  nixlEntryPoints,
  nixlStatus,
  unavailableError,
} from '../../lib/nixl/loader.js';
import { NixlAgent } from '../../lib/nixl/agent.js';

import { buildPrefix, compiler, removePrefix } from './standin.js';

const prefixes: string[] = [];
afterAll(() => prefixes.forEach(removePrefix));

function emptyPrefix(): string {
  const prefix = mkdtempSync(path.join(tmpdir(), 'dmem-nixl-empty-'));
  prefixes.push(prefix);
  return prefix;
}

describe('nixlCandidates()', () => {
  it('tries the Debian libdir, lib64, lib, then the loader path, in that order', () => {
    const candidates = nixlCandidates('/opt/x');
    expect(candidates.slice(-3)).toEqual([
      '/opt/x/lib64/libnixl_capi.so',
      '/opt/x/lib/libnixl_capi.so',
      'libnixl_capi.so',
    ]);
    if (process.arch === 'x64') {
      expect(candidates[0]).toBe('/opt/x/lib/x86_64-linux-gnu/libnixl_capi.so');
    }
  });

  it('leaves the loader path out when asked', () => {
    expect(nixlCandidates('/opt/x', false)).not.toContain('libnixl_capi.so');
  });
});

describe('nixlStatus() when NIXL is absent', () => {
  it('reports not-installed with every path it searched, and never throws', () => {
    const prefix = emptyPrefix();
    const status = nixlStatus({}, { env: { NIXL_PREFIX: prefix } });
    expect(status).toMatchObject({
      state: 'not-installed',
      usable: false,
      mode: 'auto',
      prefix,
      plugins: [],
    });
    expect(status.searched).toEqual(nixlCandidates(prefix));
    expect(status.reason).toMatch(/libnixl_capi\.so was not found/);
  });

  it('defaults the prefix to /opt/nvidia/nvda_nixl', () => {
    expect(nixlStatus({}, { env: {} }).prefix).toBe('/opt/nvidia/nvda_nixl');
  });

  it('loads nothing in off mode, from the option or DYNAMO_MEMORY_NIXL', () => {
    const prefix = emptyPrefix();
    expect(nixlStatus({ mode: 'off' }, { env: { NIXL_PREFIX: prefix } })).toMatchObject({
      state: 'off',
      searched: [],
    });
    const env = { NIXL_PREFIX: prefix, DYNAMO_MEMORY_NIXL: 'OFF' };
    expect(nixlStatus({}, { env }).state).toBe('off');
  });

  it('reports a bad DYNAMO_MEMORY_NIXL as unusable instead of throwing', () => {
    const status = nixlStatus({}, { env: { DYNAMO_MEMORY_NIXL: 'sometimes' } });
    expect(status.state).toBe('unusable');
    expect(status.reason).toMatch(/DYNAMO_MEMORY_NIXL/);
  });
});

describe('loadNixl() when NIXL is absent', () => {
  it('throws NixlUnavailableError ERR_DMEM_NIXL_NOT_INSTALLED in require mode', () => {
    const prefix = emptyPrefix();
    const load = () => loadNixl({ mode: 'require' }, { env: { NIXL_PREFIX: prefix } });
    expect(load).toThrow(NixlUnavailableError);
    expect(load).toThrow(expect.objectContaining({ code: 'ERR_DMEM_NIXL_NOT_INSTALLED' }));
    expect(load).toThrow(new RegExp(`searched ${prefix}`));
  });

  it('warns once with DMEM_NIXL_UNAVAILABLE in auto mode and returns the status', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const env = { NIXL_PREFIX: emptyPrefix() };
      expect(loadNixl({}, { env }).state).toBe('not-installed');
      expect(loadNixl({}, { env }).state).toBe('not-installed');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![1]).toEqual({ code: 'DMEM_NIXL_UNAVAILABLE' });
    } finally {
      warn.mockRestore();
    }
  });

  it('neither warns nor throws in off mode', () => {
    const warn = vi.spyOn(process, 'emitWarning');
    try {
      expect(loadNixl({ mode: 'off' }).state).toBe('off');
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });
});

describe('NixlAgent.create() when NIXL is absent', () => {
  it('throws NixlUnavailableError ERR_DMEM_NIXL_OFF in off mode', () => {
    const create = () => NixlAgent.create('a', { mode: 'off' });
    expect(create).toThrow(NixlUnavailableError);
    expect(create).toThrow(expect.objectContaining({ code: 'ERR_DMEM_NIXL_OFF' }));
  });

  it('throws NixlUnavailableError naming the state in auto mode too', () => {
    const saved = process.env.NIXL_PREFIX;
    process.env.NIXL_PREFIX = emptyPrefix();
    try {
      const create = () => NixlAgent.create('a');
      expect(create).toThrow(NixlUnavailableError);
      expect(create).toThrow(expect.objectContaining({ code: 'ERR_DMEM_NIXL_NOT_INSTALLED' }));
    } finally {
      if (saved === undefined) delete process.env.NIXL_PREFIX;
      else process.env.NIXL_PREFIX = saved;
    }
  });
});

describe('unavailableError()', () => {
  it('maps every state that is not usable to its own code', () => {
    const codes = (['off', 'not-installed', 'load-failed', 'entry-point-missing', 'stub'] as const)
      .map((state) =>
        unavailableError({
          state,
          usable: false,
          mode: 'auto',
          prefix: '/p',
          searched: [],
          plugins: [],
          reason: 'r',
        }),
      )
      .map((error) => error.code);
    expect(codes).toEqual([
      'ERR_DMEM_NIXL_OFF',
      'ERR_DMEM_NIXL_NOT_INSTALLED',
      'ERR_DMEM_NIXL_LOAD_FAILED',
      'ERR_DMEM_NIXL_ENTRY_POINT_MISSING',
      'ERR_DMEM_NIXL_STUB',
    ]);
  });
});

describe('nixlStatus() with a library that cannot be loaded', () => {
  it('reports load-failed with the loader message for a file that is not a library', () => {
    const prefix = emptyPrefix();
    mkdirSync(path.join(prefix, 'lib64'));
    writeFileSync(path.join(prefix, 'lib64/libnixl_capi.so'), 'not an ELF file\n');
    const status = nixlStatus({}, { env: { NIXL_PREFIX: prefix }, loaderPath: false });
    expect(status).toMatchObject({
      state: 'load-failed',
      library: path.join(prefix, 'lib64/libnixl_capi.so'),
    });
    expect(status.reason).toMatch(/invalid ELF header|file too short/);
    const load = () => loadNixl({ mode: 'require' }, { env: { NIXL_PREFIX: prefix } });
    expect(load).toThrow(expect.objectContaining({ code: 'ERR_DMEM_NIXL_LOAD_FAILED' }));
  });
});

describe.skipIf(!compiler)('nixlStatus() with the C API stand-in (needs a C++ compiler)', () => {
  it('names the missing entry point of a library from another version', () => {
    const prefix = buildPrefix('missing-post');
    prefixes.push(prefix);
    const env = { NIXL_PREFIX: prefix };
    const status = nixlStatus({}, { env, loaderPath: false });
    expect(status).toMatchObject({
      state: 'entry-point-missing',
      missingEntryPoint: 'nixl_capi_post_xfer_req',
      library: path.join(prefix, 'lib64/libnixl_capi.so'),
    });
    expect(status.reason).toMatch(/nixl_capi_post_xfer_req/);
    let thrown: unknown;
    try {
      loadNixl({ mode: 'require' }, { env, loaderPath: false });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(NixlUnavailableError);
    expect(thrown).toMatchObject({
      code: 'ERR_DMEM_NIXL_ENTRY_POINT_MISSING',
      entryPoint: 'nixl_capi_post_xfer_req',
    });
  });

  it('refuses NIXL’s build-time stub, which would abort on first use', () => {
    const prefix = buildPrefix('stub');
    prefixes.push(prefix);
    const status = nixlStatus({}, { env: { NIXL_PREFIX: prefix }, loaderPath: false });
    expect(status.state).toBe('stub');
  });

  it('loads a complete library, lists its plugins and sets NIXL_PLUGIN_DIR when unset', () => {
    const prefix = buildPrefix('complete', { libdir: 'lib', plugins: true });
    prefixes.push(prefix);
    const env: NodeJS.ProcessEnv = { NIXL_PREFIX: prefix };
    const status = nixlStatus({}, { env, loaderPath: false });
    expect(status).toMatchObject({
      state: 'usable',
      usable: true,
      library: path.join(prefix, 'lib/libnixl_capi.so'),
      plugins: ['POSIX', 'UCX'],
      pluginDir: path.join(prefix, 'lib/plugins'),
    });
    expect(env.NIXL_PLUGIN_DIR).toBe(path.join(prefix, 'lib/plugins'));
    expect(loadNixl({ mode: 'require' }, { env }).usable).toBe(true);
  });

  it('keeps the loaded library for the process and still honours off mode', () => {
    const status = nixlStatus({}, { env: { NIXL_PREFIX: '/nowhere' } });
    expect(status.state).toBe('usable');
    expect(nixlStatus({ mode: 'off' }).state).toBe('off');
  });

  it('lists every entry point it resolves', () => {
    const names = nixlEntryPoints();
    expect(names).toContain('nixl_capi_create_configured_agent');
    expect(names).toContain('nixl_capi_post_xfer_req');
    expect(names.every((name) => name.startsWith('nixl_capi_'))).toBe(true);
  });
});
