import { describe, expect, it } from 'vitest';

import { DisposedError } from '../../lib/errors.js';
import { allocate, nativeHandleOf, onRelease } from '../../lib/host-buffer.js';

describe('HostBuffer#free()', () => {
  it('detaches every view: bytes, buffer, subarrays, Buffers and DataViews made from it', () => {
    const buffer = allocate(8192);
    const views = [
      buffer.bytes,
      buffer.buffer,
      buffer.bytes.subarray(10, 20),
      buffer.buffer.subarray(4096),
      Buffer.from(buffer.arrayBuffer, 100, 50),
      new Float64Array(buffer.arrayBuffer, 0, 16),
    ];
    const dataView = new DataView(buffer.arrayBuffer);
    buffer.free();
    for (const view of views) expect(view.length).toBe(0);
    expect(buffer.arrayBuffer.byteLength).toBe(0);
    expect(buffer.bytes.length).toBe(0);
    expect(buffer.freed).toBe(true);
    expect(() => dataView.getUint8(0)).toThrow(TypeError);
  });

  it('makes reads and writes through old views harmless', () => {
    const buffer = allocate(4096);
    const view = buffer.bytes;
    buffer.free();
    view[0] = 1;
    expect(view[0]).toBeUndefined();
    // V8 itself refuses methods on detached memory with a catchable TypeError.
    expect(() => view.fill(1)).toThrow(TypeError);
    expect(buffer.buffer.toString()).toBe('');
  });

  it('is idempotent', () => {
    const buffer = allocate(4096);
    buffer.free();
    expect(() => buffer.free()).not.toThrow();
    expect(buffer.freed).toBe(true);
  });

  it('is what Symbol.dispose does, so `using` releases at the end of the scope', () => {
    let escaped;
    {
      using buffer = allocate(4096);
      escaped = buffer;
      expect(escaped.freed).toBe(false);
    }
    expect(escaped.freed).toBe(true);
    expect(escaped.bytes.length).toBe(0);
  });

  it('refuses the native handle of a freed buffer with DisposedError', () => {
    const buffer = allocate(4096);
    expect(nativeHandleOf(buffer)).toBeTypeOf('object');
    buffer.free();
    expect(() => nativeHandleOf(buffer)).toThrow(DisposedError);
    expect(() => nativeHandleOf(buffer)).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_BUFFER_FREED' }),
    );
  });

  it('runs release hooks before the memory goes, once, and lets them be removed', () => {
    const buffer = allocate(4096);
    const seen: string[] = [];
    onRelease(buffer, () => seen.push(`first sees ${buffer.bytes.length} bytes`));
    const remove = onRelease(buffer, () => seen.push('removed'));
    onRelease(buffer, () => seen.push('second'));
    remove();
    buffer.free();
    buffer.free();
    expect(seen).toEqual(['first sees 4096 bytes', 'second']);
    expect(() => onRelease(buffer, () => undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_DMEM_BUFFER_FREED' }),
    );
  });

  it('keeps the memory when a release hook throws, so registered memory is never freed', () => {
    const buffer = allocate(4096);
    buffer.bytes[0] = 9;
    const remove = onRelease(buffer, () => {
      throw new Error('deregistration failed');
    });
    expect(() => buffer.free()).toThrow('deregistration failed');
    expect(buffer.freed).toBe(false);
    expect(buffer.bytes[0]).toBe(9);
    remove();
    buffer.free();
    expect(buffer.freed).toBe(true);
  });
});
