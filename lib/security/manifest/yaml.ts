/**
 * YAML loading that keeps a location for every value. Manifests are read with the `yaml`
 * package's document API (not `parse`), so each node still knows its offset, and a LineCounter
 * turns offsets into 1-based lines and columns. Malformed documents become located errors.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';

import type { EvaluationError, SourceLocation } from '../report.js';

import { fastParse } from './fast-yaml.js';
import type { Located } from './model.js';
import { fromYaml, type YNode } from './ynode.js';

/** A YAML node, or nothing. */
export type Node = YNode | null | undefined;

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
  const documents: LoadedDocument[] = [];
  const errors: EvaluationError[] = [];
  const fast = fastParse(text);
  if (fast) {
    const reader = new NodeReader(file, fast.lines);
    for (const root of fast.roots) {
      documents.push({ reader, root, loc: reader.loc(root) ?? { file, line: 1, column: 1 } });
    }
    return { documents, errors };
  }

  const lines = new LineCounter();
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
    const reader = new NodeReader(file, lines);
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
    if (doc.contents === null || doc.contents === undefined) continue;
    const root = fromYaml(doc);
    if (root.kind === 'scalar' && (root.value === null || root.value === '')) continue;
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
  ) {}

  /** The location of an offset. */
  at(offset: number): SourceLocation {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, column: col };
  }

  /** The location where a node starts. */
  loc(node: Node): SourceLocation | undefined {
    return node ? this.at(node.start) : undefined;
  }

  /** The value of `key` in a map node (the first, when a key repeats). */
  get(node: Node, key: string): Node {
    if (node?.kind !== 'map') return undefined;
    for (const entry of node.entries) if (entry.key === key) return entry.value;
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

  /** The key/value pairs of a map node, with the key's location. */
  entries(node: Node): Array<[string, SourceLocation, YNode]> {
    if (node?.kind !== 'map') return [];
    return node.entries.map((entry) => [entry.key, this.at(entry.keyStart), entry.value]);
  }

  /** The items of a sequence node; empty for anything else. */
  items(node: Node): YNode[] {
    return node?.kind === 'seq' ? node.items : [];
  }

  isMap(node: Node): boolean {
    return node?.kind === 'map';
  }

  isSeq(node: Node): boolean {
    return node?.kind === 'seq';
  }

  /** A scalar as text (numbers and booleans as written), with its location. */
  string(node: Node, text?: string): Located<string> | undefined {
    if (node?.kind !== 'scalar' || node.value === null) return undefined;
    return this.located(String(node.value), node, text);
  }

  /** A boolean scalar; the strings `true`/`false` count, as the API server coerces them. */
  boolean(node: Node, text?: string): Located<boolean> | undefined {
    if (node?.kind !== 'scalar') return undefined;
    if (typeof node.value === 'boolean') return this.located(node.value, node, text);
    if (node.value === 'true' || node.value === 'false') {
      return this.located(node.value === 'true', node, text);
    }
    return undefined;
  }

  /** A numeric scalar (also a numeric string). */
  number(node: Node, text?: string): Located<number> | undefined {
    if (node?.kind !== 'scalar') return undefined;
    const value = node.value;
    const number =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && /^-?\d+$/.test(value)
          ? Number(value)
          : undefined;
    return number === undefined ? undefined : this.located(number, node, text);
  }

  private located<T>(value: T, node: YNode, text?: string): Located<T> {
    return {
      value,
      loc: this.at(node.start),
      ...(text ? { text: `${text}: ${String(value)}` } : {}),
    };
  }
}
