import { readdirSync, readFileSync } from 'node:fs';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, type Document } from 'yaml';

import { fastParse } from '../../../lib/security/manifest/fast-yaml.js';
import { fromYaml, toPlain, type YNode } from '../../../lib/security/manifest/ynode.js';

import { fixture } from './helpers.js';

/** What `yaml` makes of the text, as YNode trees, one per non-empty document. */
function reference(text: string): YNode[] | undefined {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.some((doc) => doc.errors.length > 0)) return undefined;
  return list
    .filter((doc) => doc.contents !== null)
    .map((doc) => fromYaml(doc as Document.Parsed))
    .filter((root) => !(root.kind === 'scalar' && root.value === null));
}

/** Asserts that the fast path, when it does not give up, gives exactly what `yaml` gives. */
function same(text: string): boolean {
  const fast = fastParse(text);
  if (!fast) return true;
  const expected = reference(text);
  expect(expected).toBeDefined();
  expect(fast.roots.map(toPlain)).toEqual(expected!.map(toPlain));
  expect(fast.roots).toEqual(expected);
  return true;
}

describe('fastParse()', () => {
  const manifests = readdirSync(fixture('manifests')).filter((f) => /\.(ya?ml|json)$/.test(f));

  it.each(manifests)('reads %s exactly as the yaml package does, or gives up', (name) => {
    same(readFileSync(fixture(`manifests/${name}`), 'utf8'));
  });

  it('takes the fast path for the ordinary manifests', () => {
    for (const name of ['dynamo-agg-v1alpha1.yaml', 'privileged-everything.yaml', 'kinds.yaml']) {
      expect(fastParse(readFileSync(fixture(`manifests/${name}`), 'utf8'))).toBeDefined();
    }
  });

  it('gives up on anchors, tags, merge keys, multi-line scalars, tabs and syntax errors', () => {
    for (const text of [
      'a: &x 1\nb: *x\n',
      'a: !!str 1\n',
      '<<: {a: 1}\n',
      'a: one\n  two\n',
      'a:\n\tb: 1\n',
      'a: [1,\n  2]\n',
      'a: "open\n',
      'a: >\n  x\n\n  y\n',
      '%YAML 1.2\n---\na: 1\n',
      'a: b: c\n',
    ]) {
      expect(fastParse(text), text).toBeUndefined();
    }
  });

  it('resolves scalars as the YAML 1.2 core schema does', () => {
    same(
      [
        'a: 1',
        'b: -2.5e3',
        'c: 0x1F',
        'd: 0o17',
        'e: true',
        'f: FALSE',
        'g: ~',
        'h:',
        'i: 0.6.1',
        'j: "x\\ty\\u00e9"',
        "k: 'it''s'",
        'l: .inf',
        'm: yes',
        'n: 08',
        'o: value # comment',
        'p: http://example.com:80/x',
        'q: |',
        '  line one',
        '    indented',
        '',
        'r: >-',
        '  folded',
        '  text',
        's: |+',
        '  keep',
        '',
      ].join('\n'),
    );
  });

  it('matches yaml on generated Kubernetes-shaped documents', () => {
    const key = fc.constantFrom('name', 'image', 'value', 'nvidia.com/gpu', 'a b', '"q: k"', 'x');
    const scalar = fc.constantFrom(
      '1',
      'true',
      'null',
      '"s p"',
      "'x'",
      'plain text',
      '8Gi',
      '[]',
      '{}',
      '[a, "b", 3]',
      '{ a: 1, b: [x] }',
      '0.5',
      '-1',
      'registry/x:1.0',
      '"#not a comment"',
      'a # comment',
    );
    const tree: fc.Arbitrary<string[]> = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        scalar.map((s) => [s]),
        fc
          .array(fc.tuple(key, tie('node') as fc.Arbitrary<string[]>), {
            minLength: 1,
            maxLength: 4,
          })
          .map((entries) => {
            const seen = new Set<string>();
            return entries
              .filter(([k]) => !seen.has(k) && seen.add(k))
              .flatMap(([k, child]) =>
                child.length === 1 && !child[0]!.startsWith(' ') && !child[0]!.startsWith('-')
                  ? [`${k}: ${child[0]}`]
                  : [`${k}:`, ...child.map((line) => `  ${line}`)],
              );
          }),
        fc
          .array(tie('node') as fc.Arbitrary<string[]>, { minLength: 1, maxLength: 3 })
          .map((items) =>
            items.flatMap((child) => [
              `- ${child[0]}`,
              ...child.slice(1).map((line) => `  ${line}`),
            ]),
          ),
      ),
    })).node;
    fc.assert(
      fc.property(fc.array(tree, { minLength: 1, maxLength: 3 }), (docs) => {
        const text = docs.map((lines) => lines.join('\n')).join('\n---\n') + '\n';
        same(text);
      }),
      { numRuns: 300 },
    );
  });
});
