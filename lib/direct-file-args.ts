/**
 * Argument checks and conversion of direct-file I/O arguments into the native segments; kept
 * apart from lib/direct-file.ts so that the class reads as the API.
 */
import type { NativeHandle, NativeIoSegment } from './binding.js';
import type { BatchOperation, DirectMode, IoBuffer, IoOptions } from './direct-file.js';
import { checkOptionKeys, invalidArgument, InvalidArgumentError } from './errors.js';
import { HostBuffer, hostBufferOwning, nativeHandleOf } from './host-buffer.js';

/** The options object used when a caller passes none: skips the unknown-key check. */
export const noOptions: IoOptions = Object.freeze({});

/** Converts one transfer's arguments, checking each and naming it `name.` when given. */
export function segmentOf(
  buffer: IoBuffer,
  offset: number,
  options: IoOptions,
  where: string,
  name?: string,
): NativeIoSegment {
  const label = name === undefined ? '' : `${name}.`;
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument(`${label}options`, 'an object', options);
  }
  if (options !== noOptions) checkOptionKeys(options, ['bufferOffset', 'length', 'tail'], where);
  checkCount(`${label}offset`, offset);
  const owner = ArrayBuffer.isView(buffer) ? hostBufferOwning(buffer) : undefined;
  if (owner !== undefined && !owner.freed) {
    return viewOfHostBuffer(owner, buffer as ArrayBufferView, offset, options, where, name);
  }
  const size = byteLengthOf(buffer, name === undefined ? 'buffer' : `${name}.buffer`);
  const { bufferOffset = 0, tail = false } = options;
  checkCount(`${label}bufferOffset`, bufferOffset);
  const length = options.length ?? Math.max(0, size - bufferOffset);
  checkCount(`${label}length`, length);
  if (typeof tail !== 'boolean') throw invalidArgument(`${label}tail`, 'a boolean', tail);
  const segment: NativeIoSegment = { buffer: handleOf(buffer), bufferOffset, length, offset, tail };
  if (name !== undefined) segment.name = name;
  if (buffer instanceof HostBuffer) segment.keep = buffer.arrayBuffer;
  return segment;
}

/**
 * A plain view of a HostBuffer's memory becomes a segment of the HostBuffer itself, limited to
 * the view's range: the native side then holds the HostBuffer, so `free()` refuses while the I/O
 * runs instead of releasing memory under it.
 */
function viewOfHostBuffer(
  owner: HostBuffer,
  view: ArrayBufferView,
  offset: number,
  options: IoOptions,
  where: string,
  name?: string,
): NativeIoSegment {
  const label = name === undefined ? '' : `${name}.`;
  const { bufferOffset = 0 } = options;
  checkCount(`${label}bufferOffset`, bufferOffset);
  const length = options.length ?? Math.max(0, view.byteLength - bufferOffset);
  checkCount(`${label}length`, length);
  if (bufferOffset + length > view.byteLength) {
    throw new InvalidArgumentError(
      'ERR_DMEM_OUT_OF_RANGE',
      `Expected ${label}bufferOffset + ${label}length to be at most the buffer's ${view.byteLength} ` +
        `bytes, received ${bufferOffset} + ${length}`,
    );
  }
  const start = view.byteOffset - owner.bytes.byteOffset;
  return segmentOf(
    owner,
    offset,
    { ...options, bufferOffset: start + bufferOffset, length },
    where,
    name,
  );
}

export function vectorSegments(buffers: readonly IoBuffer[], offset: number, where: string) {
  if (!Array.isArray(buffers)) throw invalidArgument('buffers', 'an array', buffers);
  checkCount('offset', offset);
  let at = offset;
  return buffers.map((buffer, index) => {
    const segment = segmentOf(buffer, at, {}, where, `buffers[${index}]`);
    at += segment.length;
    return segment;
  });
}

export function batchSegments(ops: readonly BatchOperation[], where: string): NativeIoSegment[] {
  if (!Array.isArray(ops)) throw invalidArgument('ops', 'an array', ops);
  return ops.map((op, index) => {
    if (typeof op !== 'object' || op === null) {
      throw invalidArgument(`ops[${index}]`, 'an object', op);
    }
    const { buffer, offset, ...rest } = op;
    if (rest.tail) {
      throw invalidArgument(`ops[${index}].tail`, 'false in a batch', rest.tail);
    }
    return segmentOf(buffer, offset, rest, where, `ops[${index}]`);
  });
}

export function handleOf(buffer: IoBuffer): NativeHandle | ArrayBufferView {
  return buffer instanceof HostBuffer ? nativeHandleOf(buffer) : buffer;
}

export function byteLengthOf(buffer: IoBuffer, name = 'buffer'): number {
  if (buffer instanceof HostBuffer) return buffer.freed ? 0 : buffer.size;
  if (ArrayBuffer.isView(buffer)) return buffer.byteLength;
  throw invalidArgument(name, 'a HostBuffer, Buffer, TypedArray or DataView', buffer);
}

export function checkCount(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(name, 'a non-negative safe integer', value);
  }
}

export function checkPath(value: unknown, name = 'path'): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0')) {
    throw invalidArgument(name, 'a non-empty string without NUL bytes', value);
  }
}

export function checkMode(mode: unknown): void {
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw invalidArgument('options.mode', 'an integer from 0 to 0o7777', mode);
  }
}

export function checkDirect(direct: unknown): asserts direct is DirectMode {
  if (direct !== 'require' && direct !== 'prefer' && direct !== 'off') {
    throw invalidArgument('options.direct', "one of 'require', 'prefer', 'off'", direct);
  }
}
