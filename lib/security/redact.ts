/**
 * Redaction of secret-looking values. Every output of the security module (text, JSON, SARIF,
 * the audit log) shows such a value only as its name, its length and a short hash prefix, so
 * that two runs can be compared without the value ever being written anywhere.
 */
import { createHash } from 'node:crypto';

/** Variable names that usually hold credentials (catalogue RT-ENV-03). */
const secretName =
  /password|passwd|secret|token|bearer|api[_-]?key|private[_-]?key|credential|access[_-]?key|authorization/i;

/** Values that are credentials whatever their name. */
const secretValue = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\b(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,}/,
  /\bhf_[A-Za-z0-9]{20,}/,
  /\bAKIA[0-9A-Z]{16}\b/,
  /\bxox[abpr]-[A-Za-z0-9-]{10,}/,
  /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./,
];

/** Whether a variable name looks like it holds a secret. */
export function isSecretName(name: string): boolean {
  return secretName.test(name);
}

/** Whether a value looks like a credential, whatever its name. */
export function isSecretValue(value: string): boolean {
  return secretValue.some((pattern) => pattern.test(value));
}

/** `<redacted: 40 chars, sha256 1a2b3c4d>`: enough to compare, nothing to steal. */
export function redactedValue(value: string): string {
  const digest = createHash('sha256').update(value).digest('hex').slice(0, 8);
  return `<redacted: ${value.length} chars, sha256 ${digest}>`;
}

/**
 * Shows `NAME=value` with the value redacted when the name or the value looks secret.
 *
 * @returns `NAME=value` or `NAME=<redacted: N chars, sha256 xxxxxxxx>`.
 */
export function showVariable(name: string, value: string): string {
  return `${name}=${isSecretName(name) || isSecretValue(value) ? redactedValue(value) : value}`;
}

/**
 * Redacts every secret-looking part of a free text line: `NAME=value` pairs whose name looks
 * secret, and credential-shaped tokens anywhere. A last line of defence for evidence that did not
 * come through `showVariable`.
 */
export function redactText(line: string): string {
  let out = line.replace(
    /([A-Za-z_][A-Za-z0-9_.-]*)=("[^"]*"|'[^']*'|[^\s,;]*)/g,
    (whole, name: string, value: string) => {
      if (value.startsWith('<redacted:')) return whole;
      return isSecretName(name) || isSecretValue(value) ? `${name}=${redactedValue(value)}` : whole;
    },
  );
  for (const pattern of secretValue) {
    const global = new RegExp(pattern.source, 'g');
    out = out.replace(global, (match) => redactedValue(match));
  }
  return out;
}
