/**
 * YAML loading that keeps a location for every value. Manifests are read with the `yaml`
 * package's document API (not `parse`), so each node still knows its offset, and a LineCounter
 * turns offsets into 1-based lines and columns. Malformed documents become located errors.
 */
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node as YamlNode,
} from 'yaml';

import type { EvaluationError, SourceLocation } from '../report.js';

import type { Located } from './model.js';

/** A YAML node, or nothing. */
export type Node = YamlNode | null | undefined;

/** One document of a stream that holds something. */
export interface LoadedDocument {
  reader: NodeReader;
  root: Node;
  loc: SourceLocation;
}

/** What loading a YAML stream gives: the usable documents and the located errors. */
export interface LoadedStream {
  documents: LoadedDocument[];
  errors: EvaluationError[];
}

/**
 * Parses a multi-document YAML stream. Empty documents (`---` followed by `---`) are skipped;
 * a document with a syntax error is reported with its line and column and left out, while the
 * other documents of the stream are still returned.
 */
export function loadYamlStream(file: string, text: string): LoadedStream {
  const lines = new LineCounter();
  const documents: LoadedDocument[] = [];
  const errors: EvaluationError[] = [];
  let parsed: Document.Parsed[];
  try {
    parsed = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: false, merge: true }) as
      Document.Parsed[] | never[];
  } catch (error) {
    // the parser reports problems on the documents; a throw here is a parser bug, not a crash
    errors.push({
      code: 'ERR_DMEM_LINT_YAML',
      message: `${file}: YAML parser failed: ${error instanceof Error ? error.message : error}`,
      location: { file, line: 1, column: 1 },
    });
    return { documents, errors };
  }
  if (!Array.isArray(parsed)) parsed = [parsed];

  for (const doc of parsed) {
    const reader = new NodeReader(file, lines, doc);
    if (doc.errors.length > 0) {
      for (const problem of doc.errors) {
        const location = reader.at(problem.pos[0]);
        errors.push({
          code: 'ERR_DMEM_LINT_YAML',
          message: `${file}:${location.line}:${location.column}: ${firstLine(problem.message)}`,
          location,
        });
      }
      continue;
    }
    const root = doc.contents as Node;
    if (root === null || root === undefined) continue;
    if (isScalar(root) && (root.value === null || root.value === '')) continue;
    documents.push({ reader, root, loc: reader.loc(root) ?? { file, line: 1, column: 1 } });
  }
  return { documents, errors };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** Reads typed, located values out of one document's nodes. */
export class NodeReader {
  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
    private readonly doc: Document.Parsed,
  ) {}

  /** The location of an offset. */
  at(offset: number): SourceLocation {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, column: col };
  }

  /** The location where a node starts. */
  loc(node: Node): SourceLocation | undefined {
    const range = node?.range;
    return range ? this.at(range[0]) : undefined;
  }

  /** Follows an alias to the node it names. */
  resolve(node: Node): Node {
    if (node && isAlias(node)) return node.resolve(this.doc) as Node;
    return node;
  }

  /** The value of `key` in a map node. */
  get(node: Node, key: string): Node {
    const map = this.resolve(node);
    if (!map || !isMap(map)) return undefined;
    for (const pair of map.items) {
      const keyNode = pair.key as Node;
      if (isScalar(keyNode) && String(keyNode.value) === key)
        return this.resolve(pair.value as Node);
    }
    return undefined;
  }

  /** Walks nested map keys. */
  path(node: Node, ...keys: string[]): Node {
    let current = node;
    for (const key of keys) {
      current = this.get(current, key);
      if (!current) return undefined;
    }
    return current;
  }

  /** The key/value pairs of a map node with string keys. */
  entries(node: Node): Array<[string, Node, Node]> {
    const map = this.resolve(node);
    if (!map || !isMap(map)) return [];
    const out: Array<[string, Node, Node]> = [];
    for (const pair of map.items) {
      const keyNode = pair.key as Node;
      if (isScalar(keyNode))
        out.push([String(keyNode.value), keyNode, this.resolve(pair.value as Node)]);
    }
    return out;
  }

  /** The items of a sequence node; empty for anything else. */
  items(node: Node): Node[] {
    const seq = this.resolve(node);
    if (!seq || !isSeq(seq)) return [];
    return seq.items.map((item) => this.resolve(item as Node));
  }

  isMap(node: Node): boolean {
    const value = this.resolve(node);
    return Boolean(value && isMap(value));
  }

  isSeq(node: Node): boolean {
    const value = this.resolve(node);
    return Boolean(value && isSeq(value));
  }

  /** A scalar as text (numbers and booleans as written), with its location. */
  string(node: Node, text?: string): Located<string> | undefined {
    const value = this.resolve(node);
    if (!value || !isScalar(value) || value.value === null || value.value === undefined) {
      return undefined;
    }
    return this.located(String(value.value), value, text);
  }

  /** A boolean scalar; the strings `true`/`false` count, as the API server coerces them. */
  boolean(node: Node, text?: string): Located<boolean> | undefined {
    const value = this.resolve(node);
    if (!value || !isScalar(value)) return undefined;
    if (typeof value.value === 'boolean') return this.located(value.value, value, text);
    if (value.value === 'true' || value.value === 'false') {
      return this.located(value.value === 'true', value, text);
    }
    return undefined;
  }

  /** A numeric scalar (also a numeric string). */
  number(node: Node, text?: string): Located<number> | undefined {
    const value = this.resolve(node);
    if (!value || !isScalar(value)) return undefined;
    const number =
      typeof value.value === 'number'
        ? value.value
        : typeof value.value === 'string' && /^-?\d+$/.test(value.value)
          ? Number(value.value)
          : undefined;
    return number === undefined ? undefined : this.located(number, value, text);
  }

  private located<T>(value: T, node: Node, text?: string): Located<T> {
    const loc = this.loc(node);
    return {
      value,
      ...(loc ? { loc } : {}),
      ...(text ? { text: `${text}: ${String(value)}` } : {}),
    };
  }
}
