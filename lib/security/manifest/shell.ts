/**
 * A small shell tokenizer for finding `docker run` lines in scripts: quotes, escapes, line
 * continuations, comments, command separators and command substitutions, with the offset of
 * every word. It does not expand anything: variables and substitutions stay as written and are
 * listed, so the checks can say what they could not see.
 */

/** One word or operator. */
export interface ShellToken {
  kind: 'word' | 'op';
  /** The word with quotes and escapes removed (variables kept as written). */
  value: string;
  /** The source text of the token. */
  raw: string;
  offset: number;
  /** Variables and substitutions in the word (`HOME`, `$(id -u)`). */
  vars: string[];
}

/** A comment and whether it stands on a line of its own. */
export interface ShellComment {
  text: string;
  offset: number;
  ownLine: boolean;
}

/** The result of tokenizing a script. */
export interface ShellScan {
  tokens: ShellToken[];
  comments: ShellComment[];
  /** Command substitutions, to be scanned for commands of their own. */
  nested: Array<{ text: string; offset: number }>;
}

const operators = ['&&', '||', ';;', ';', '|', '&', '(', ')'];

/** Tokenizes shell text. Unterminated quotes end at the end of the text. */
export function scanShell(text: string, base = 0): ShellScan {
  const tokens: ShellToken[] = [];
  const comments: ShellComment[] = [];
  const nested: ShellScan['nested'] = [];
  let i = 0;
  let word: { value: string; start: number; vars: string[] } | undefined;
  let lineHasWord = false;

  const flush = (end: number) => {
    if (!word) return;
    tokens.push({
      kind: 'word',
      value: word.value,
      raw: text.slice(word.start, end),
      offset: base + word.start,
      vars: word.vars,
    });
    word = undefined;
  };
  const start = () => (word ??= { value: '', start: i, vars: [] });

  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\\' && text[i + 1] === '\n') {
      i += 2;
      continue;
    }
    if (ch === '\\' && text[i + 1] === '\r' && text[i + 2] === '\n') {
      i += 3;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      flush(i);
      i++;
      continue;
    }
    if (ch === '\n') {
      flush(i);
      tokens.push({ kind: 'op', value: '\n', raw: '\n', offset: base + i, vars: [] });
      lineHasWord = false;
      i++;
      continue;
    }
    if (ch === '#' && !word) {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      comments.push({ text: text.slice(i + 1, stop), offset: base + i, ownLine: !lineHasWord });
      i = stop;
      continue;
    }
    lineHasWord = true;
    if (';&|()'.includes(ch)) {
      // metacharacters end a word even without a space
      flush(i);
      const op = operators.find((candidate) => text.startsWith(candidate, i))!;
      tokens.push({ kind: 'op', value: op, raw: op, offset: base + i, vars: [] });
      i += op.length;
      continue;
    }

    const w = start();
    if (ch === '\\') {
      w.value += text[i + 1] ?? '';
      i += 2;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      const stop = end < 0 ? text.length : end;
      w.value += text.slice(i + 1, stop);
      i = stop + 1;
    } else if (ch === '"') {
      i = readDoubleQuoted(text, i + 1, w, nested, base);
    } else if (ch === '$' || ch === '`') {
      i = readExpansion(text, i, w, nested, base);
    } else {
      w.value += ch;
      i++;
    }
  }
  flush(text.length);
  return { tokens, comments, nested };
}

function readDoubleQuoted(
  text: string,
  from: number,
  w: { value: string; vars: string[] },
  nested: ShellScan['nested'],
  base: number,
): number {
  let i = from;
  while (i < text.length && text[i] !== '"') {
    const ch = text[i]!;
    if (ch === '\\' && text[i + 1] === '\n') {
      i += 2;
    } else if (ch === '\\' && '"\\$`'.includes(text[i + 1] ?? '')) {
      w.value += text[i + 1];
      i += 2;
    } else if (ch === '$' || ch === '`') {
      i = readExpansion(text, i, w, nested, base);
    } else {
      w.value += ch;
      i++;
    }
  }
  return i + 1;
}

/** Reads `$NAME`, `${...}`, `$(...)` or a backtick substitution into the word, unexpanded. */
function readExpansion(
  text: string,
  from: number,
  w: { value: string; vars: string[] },
  nested: ShellScan['nested'],
  base: number,
): number {
  const next = text[from + 1];
  if (text[from] === '`') {
    const end = text.indexOf('`', from + 1);
    const stop = end < 0 ? text.length : end;
    nested.push({ text: text.slice(from + 1, stop), offset: base + from + 1 });
    w.value += text.slice(from, stop + 1);
    w.vars.push(text.slice(from, stop + 1));
    return stop + 1;
  }
  if (next === '(' || next === '{') {
    const close = next === '(' ? ')' : '}';
    // find the matching close, skipping single-quoted text inside a substitution
    let depth = 0;
    let i = from + 1;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (ch === "'" && next === '(') {
        const quote = text.indexOf("'", i + 1);
        i = quote < 0 ? text.length : quote;
      } else if (ch === next) depth++;
      else if (ch === close && --depth === 0) break;
    }
    const stop = Math.min(i, text.length - 1);
    const whole = text.slice(from, stop + 1);
    if (next === '(' && text[from + 2] !== '(') {
      nested.push({ text: text.slice(from + 2, stop), offset: base + from + 2 });
    }
    w.value += whole;
    w.vars.push(
      next === '{' ? (/^\$\{#?!?([A-Za-z_][A-Za-z0-9_]*)/.exec(whole)?.[1] ?? whole) : whole,
    );
    return stop + 1;
  }
  const name = /^\$([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(text.slice(from, from + 64));
  if (name) {
    w.value += name[0];
    w.vars.push(name[1]!);
    return from + name[0].length;
  }
  w.value += '$';
  return from + 1;
}
