/**
 * A fast path for the YAML that Kubernetes manifests are made of: block mappings and sequences,
 * one-line flow collections, quoted and plain scalars, literal and folded block scalars, comments
 * and `---` separators, read into the same light YNode tree the `yaml` path is converted to. Anything else (anchors, aliases, tags, merge keys, multi-line
 * flow or plain scalars, tabs, directives) makes it give up on the whole file, and the caller
 * parses with `yaml` instead, which also reports errors; this path never reports one.
 *
 * Why: `yaml`'s document API spends about 2 s on a 5 MB, 5,000-object stream on our CI machines,
 * the whole budget of the lint goal; this path reads the same stream several times faster.
 */
import { LineCounter } from 'yaml';

import type { YEntry, YNode, YScalar } from './ynode.js';

/** What the fast path produced: one root per non-empty document, and the line table. */
export interface FastStream {
  roots: YNode[];
  lines: LineCounter;
}

class GiveUp extends Error {}

interface Line {
  indent: number;
  /** Text from the indent on, without the line break. */
  content: string;
  /** Offset of `content` in the stream. */
  offset: number;
}

/** Parses a stream, or returns undefined when it holds anything outside the fast path. */
export function fastParse(text: string): FastStream | undefined {
  try {
    return parseStream(text);
  } catch (error) {
    if (error instanceof GiveUp) return undefined;
    throw error;
  }
}

function parseStream(text: string): FastStream {
  if (text.charCodeAt(0) === 0xfeff) throw new GiveUp();
  const counter = new LineCounter();
  counter.addNewLine(0);
  const roots: YNode[] = [];
  let doc: Line[] = [];
  const finish = () => {
    const root = new BlockParser(doc).document();
    // a document that is only `null` holds nothing, as an empty one
    if (root && !(root.kind === 'scalar' && root.value === null)) roots.push(root);
    doc = [];
  };

  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    else counter.addNewLine(end + 1);
    let line = text.slice(start, end);
    if (line.endsWith('\r')) line = line.slice(0, -1);

    if (line.startsWith('---') && (line.length === 3 || /^---\s+(#.*)?$/.test(line))) {
      finish();
    } else if (line.startsWith('...') && /^\.\.\.\s*(#.*)?$/.test(line)) {
      finish();
    } else if (line.startsWith('%') || line.startsWith('---')) {
      throw new GiveUp();
    } else {
      let indent = 0;
      while (line.charCodeAt(indent) === 32) indent++;
      if (line.charCodeAt(indent) === 9) throw new GiveUp();
      doc.push({ indent, content: line.slice(indent), offset: start + indent });
    }
    start = end + 1;
  }
  finish();
  return { roots, lines: counter };
}

const blank = (line: Line) => line.content === '' || line.content.startsWith('#');
const isSeqEntry = (content: string) => content === '-' || content.startsWith('- ');

class BlockParser {
  private i = 0;

  constructor(private readonly lines: Line[]) {}

  document(): YNode | undefined {
    this.skipBlank();
    if (this.i >= this.lines.length) return undefined;
    const root = this.node(0);
    this.skipBlank();
    if (this.i < this.lines.length) throw new GiveUp();
    return root;
  }

  private skipBlank(): void {
    while (this.i < this.lines.length && blank(this.lines[this.i]!)) this.i++;
  }

  private peek(): Line | undefined {
    this.skipBlank();
    return this.lines[this.i];
  }

  /** A block node whose first line is indented at least `min`. */
  private node(min: number): YNode {
    const line = this.peek();
    if (!line || line.indent < min) return nullScalar(line?.offset ?? 0);
    if (isSeqEntry(line.content)) return this.sequence(line.indent);
    if (mappingKey(line.content) !== undefined) return this.mapping(line.indent);
    this.i++;
    const value = inline(line.content, line.offset);
    this.noContinuation(line.indent - 1);
    return value;
  }

  /** A plain scalar continued on a deeper line is outside the fast path. */
  private noContinuation(indent: number): void {
    const next = this.peek();
    if (next && next.indent > indent) throw new GiveUp();
  }

  private sequence(indent: number): YNode {
    const items: YNode[] = [];
    const first = this.lines[this.i]!.offset;
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      if (!isSeqEntry(line.content)) break;
      const rest = line.content.slice(1);
      const spaces = rest.length - rest.trimStart().length;
      const body = rest.trimStart();
      if (body === '' || body.startsWith('#')) {
        this.i++;
        items.push(this.node(indent + 1));
      } else {
        // the entry's content continues as a block indented at its own column
        this.lines[this.i] = {
          indent: indent + 1 + spaces,
          content: body,
          offset: line.offset + 1 + spaces,
        };
        items.push(this.node(indent + 1 + spaces));
      }
    }
    const next = this.peek();
    if (next && next.indent > indent) throw new GiveUp();
    return { kind: 'seq', start: first, items };
  }

  private mapping(indent: number): YNode {
    const entries: YEntry[] = [];
    const first = this.lines[this.i]!.offset;
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      const key = mappingKey(line.content);
      if (key === undefined) throw new GiveUp();
      const restStart = key.length + 1;
      const rest = line.content.slice(restStart).trimStart();
      const restOffset = line.offset + line.content.length - rest.length;
      this.i++;

      let value: YNode;
      if (rest === '' || rest.startsWith('#')) {
        const next = this.peek();
        if (next && next.indent > indent) value = this.node(indent + 1);
        else if (next && next.indent === indent && isSeqEntry(next.content)) {
          value = this.sequence(indent);
        } else value = nullScalar(line.offset + key.length + 1);
      } else if (rest[0] === '|' || rest[0] === '>') {
        value = this.blockScalar(rest, restOffset, indent);
      } else {
        value = inline(rest, restOffset);
        this.noContinuation(indent);
      }
      entries.push({ key: key.value, keyStart: line.offset, value });
    }
    const next = this.peek();
    if (next && next.indent > indent) throw new GiveUp();
    return { kind: 'map', start: first, entries };
  }

  /** `|`, `|-`, `|+`, `>`, `>-`, `>+` with the indentation found from the first line. */
  private blockScalar(header: string, offset: number, parentIndent: number): YNode {
    const match = /^([|>])([-+]?)\s*(#.*)?$/.exec(header);
    if (!match) throw new GiveUp();
    const [, style, chomp] = match;
    const body: Line[] = [];
    let contentIndent = -1;
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      if (line.content === '') {
        body.push(line);
      } else if (
        line.indent > parentIndent &&
        (contentIndent < 0 || line.indent >= contentIndent)
      ) {
        if (contentIndent < 0) contentIndent = line.indent;
        body.push(line);
      } else break;
      this.i++;
    }
    while (body.length && body[body.length - 1]!.content === '') {
      if (chomp !== '+') body.pop();
      else break;
    }
    const rows = body.map((line) =>
      line.content === '' ? '' : ' '.repeat(line.indent - contentIndent) + line.content,
    );
    let text = style === '|' ? rows.join('\n') : fold(rows);
    if (chomp !== '-' && rows.length > 0) text += '\n';
    return scalar(text, offset);
  }
}

/** Folded block scalar, simple form only: plain lines join with spaces. */
function fold(rows: string[]): string {
  if (rows.some((row) => row === '' || row.startsWith(' '))) throw new GiveUp();
  return rows.join(' ');
}

/** The key of a `key: value` line, or undefined when the line is not one. */
function mappingKey(content: string): { value: string; length: number } | undefined {
  const c = content[0];
  if (c === '"' || c === "'") {
    const quoted = readQuoted(content, 0);
    if (quoted && content[quoted.end] === ':' && /^(\s|$)/.test(content.slice(quoted.end + 1))) {
      return { value: quoted.value, length: quoted.end };
    }
    return undefined;
  }
  if (c === '?' || c === '&' || c === '*' || c === '!' || c === '[' || c === '{') return undefined;
  const colon = content.search(/:(\s|$)/);
  if (colon <= 0) return undefined;
  const key = content.slice(0, colon);
  if (key.includes(' #') || key === '<<') throw new GiveUp();
  // keys resolve like values (`1`, `0x1F`, `true`) and are then used as text
  return { value: String(resolvePlain(key.trimEnd())), length: colon };
}

/** An inline value: flow collection, quoted or plain scalar, to the end of the line. */
function inline(text: string, offset: number): YNode {
  const c = text[0]!;
  if ('&*!@`%|>'.includes(c)) throw new GiveUp();
  if (c === '{' || c === '[') {
    const flow = new FlowParser(text, offset);
    const node = flow.value();
    flow.end();
    return node;
  }
  if (c === '"' || c === "'") {
    const quoted = readQuoted(text, 0);
    if (!quoted || !/^\s*(#.*)?$/.test(text.slice(quoted.end))) throw new GiveUp();
    return scalar(quoted.value, offset);
  }
  const comment = text.search(/\s#/);
  const raw = (comment < 0 ? text : text.slice(0, comment)).trimEnd();
  if (/:(\s|$)/.test(raw) || raw.startsWith('- ') || raw === '-') throw new GiveUp();
  return scalar(resolvePlain(raw), offset);
}

/** One-line flow collections: `{ a: 1, b: [x, "y"] }`. */
class FlowParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly offset: number,
  ) {}

  end(): void {
    if (!/^\s*(#.*)?$/.test(this.text.slice(this.pos))) throw new GiveUp();
  }

  private skip(): void {
    while (this.text[this.pos] === ' ') this.pos++;
  }

  value(): YNode {
    this.skip();
    const c = this.text[this.pos];
    if (c === '{') return this.map();
    if (c === '[') return this.seq();
    return this.scalar(false);
  }

  private map(): YNode {
    const entries: YEntry[] = [];
    const start = this.pos++;
    for (;;) {
      this.skip();
      if (this.text[this.pos] === '}') break;
      const key = this.scalar(true) as YScalar;
      this.skip();
      let value: YNode;
      if (this.text[this.pos] === ':') {
        this.pos++;
        this.skip();
        const c = this.text[this.pos];
        value = c === ',' || c === '}' ? nullScalar(this.offset + this.pos) : this.value();
      } else value = nullScalar(this.offset + this.pos);
      entries.push({ key: String(key.value), keyStart: key.start, value });
      this.skip();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.text[this.pos] !== '}') throw new GiveUp();
    }
    this.pos++;
    return { kind: 'map', start: this.offset + start, entries };
  }

  private seq(): YNode {
    const items: YNode[] = [];
    const start = this.pos++;
    for (;;) {
      this.skip();
      if (this.text[this.pos] === ']') break;
      items.push(this.value());
      this.skip();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.text[this.pos] !== ']') throw new GiveUp();
    }
    this.pos++;
    return { kind: 'seq', start: this.offset + start, items };
  }

  private scalar(isKey: boolean): YNode {
    const start = this.pos;
    const c = this.text[start];
    if (c === '"' || c === "'") {
      const quoted = readQuoted(this.text, start);
      if (!quoted) throw new GiveUp();
      this.pos = quoted.end;
      return scalar(quoted.value, this.offset + start);
    }
    if (c === undefined || '&*!@`%#[{'.includes(c)) throw new GiveUp();
    const stop = isKey ? /[,{}[\]]|:(\s|[,}\]]|$)/g : /[,{}[\]]|:\s|\s#/g;
    stop.lastIndex = start;
    const found = stop.exec(this.text);
    if (!isKey && found && found[0].startsWith(':')) throw new GiveUp();
    const end = found ? found.index : this.text.length;
    const raw = this.text.slice(start, end).trimEnd();
    this.pos = end;
    return scalar(resolvePlain(raw), this.offset + start);
  }
}

const escapes: Record<string, string> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  '\t': '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  N: '\x85',
  _: '\xa0',
  L: '\u2028',
  P: '\u2029',
};

/** A quoted scalar on one line: its value and the offset after the closing quote. */
function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  const quote = text[start];
  let value = '';
  for (let k = start + 1; k < text.length; k++) {
    const c = text[k]!;
    if (quote === "'") {
      if (c !== "'") value += c;
      else if (text[k + 1] === "'") ((value += "'"), k++);
      else return { value, end: k + 1 };
    } else if (c === '"') {
      return { value, end: k + 1 };
    } else if (c === '\\') {
      const e = text[++k];
      if (e === 'x' || e === 'u' || e === 'U') {
        const width = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = text.slice(k + 1, k + 1 + width);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== width) throw new GiveUp();
        value += String.fromCodePoint(parseInt(hex, 16));
        k += width;
      } else if (e !== undefined && escapes[e] !== undefined) {
        value += escapes[e];
      } else throw new GiveUp();
    } else value += c;
  }
  return undefined;
}

/** YAML 1.2 core schema resolution of a plain scalar, as the `yaml` package does by default. */
function resolvePlain(raw: string): string | number | boolean | null {
  if (raw === '' || raw === '~' || raw === 'null' || raw === 'Null' || raw === 'NULL') return null;
  if (raw === 'true' || raw === 'True' || raw === 'TRUE') return true;
  if (raw === 'false' || raw === 'False' || raw === 'FALSE') return false;
  const first = raw.charCodeAt(0);
  const numeric = (first >= 48 && first <= 57) || '+-.'.includes(raw[0]!);
  if (!numeric) return raw;
  if (/^[-+]?[0-9]+$/.test(raw)) return Number(raw);
  if (/^0o[0-7]+$/.test(raw)) return parseInt(raw.slice(2), 8);
  if (/^0x[0-9a-fA-F]+$/.test(raw)) return parseInt(raw.slice(2), 16);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(raw)) return Number(raw);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(raw)) return raw.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(raw)) return NaN;
  return raw;
}

function scalar(value: YScalar['value'], start: number): YNode {
  return { kind: 'scalar', value, start };
}

function nullScalar(offset: number): YNode {
  return scalar(null, offset);
}
