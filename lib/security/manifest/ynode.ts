/**
 * The light YAML tree the manifest readers walk: plain objects with the offset where each node
 * starts. The fast path builds it directly; documents parsed by the `yaml` package are converted
 * to it (aliases resolved), so the readers see one shape whichever parser ran.
 */
import { isAlias, isMap, isScalar, isSeq, type Document } from 'yaml';

/** A scalar; `null` for an empty value. */
export interface YScalar {
  kind: 'scalar';
  value: string | number | boolean | null;
  start: number;
}

/** One `key: value` of a mapping; keys are kept as text. */
export interface YEntry {
  key: string;
  keyStart: number;
  value: YNode;
}

export interface YMap {
  kind: 'map';
  start: number;
  entries: YEntry[];
}

export interface YSeq {
  kind: 'seq';
  start: number;
  items: YNode[];
}

export type YNode = YScalar | YMap | YSeq;

/** Deeper than any manifest; bounds alias expansion (`&a [*a, *a]` chains). */
const maxDepth = 64;

/** Converts a `yaml` document's contents, resolving aliases. */
export function fromYaml(doc: Document.Parsed, node: unknown = doc.contents, depth = 0): YNode {
  const start = (node as { range?: number[] } | null)?.range?.[0] ?? 0;
  if (depth > maxDepth) return { kind: 'scalar', value: null, start };
  if (isAlias(node)) return fromYaml(doc, node.resolve(doc), depth + 1);
  if (isMap(node)) {
    const entries: YEntry[] = [];
    for (const pair of node.items) {
      const key = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
      if (!isScalar(key)) continue;
      entries.push({
        key: String(key.value),
        keyStart: key.range?.[0] ?? start,
        value: fromYaml(doc, pair.value, depth + 1),
      });
    }
    return { kind: 'map', start, entries };
  }
  if (isSeq(node)) {
    return { kind: 'seq', start, items: node.items.map((item) => fromYaml(doc, item, depth + 1)) };
  }
  if (isScalar(node)) {
    const value = node.value;
    const plain =
      value === null || value === undefined
        ? null
        : typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
          ? value
          : String(value);
    return { kind: 'scalar', value: plain, start };
  }
  return { kind: 'scalar', value: null, start };
}

/** The plain value of a tree, for tests and debugging. */
export function toPlain(node: YNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const entry of node.entries) out[entry.key] = toPlain(entry.value);
  return out;
}
