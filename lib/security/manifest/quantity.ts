/** Byte quantities as Kubernetes and Docker write them. */

const kubernetesSuffixes: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
  m: 1e-3,
};

/**
 * Parses a Kubernetes quantity (`64Gi`, `500M`, `1e9`, `0.5Gi`) into bytes, or `undefined` when
 * it is not one (a template placeholder, a typo).
 */
export function parseQuantity(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined;
  const match =
    /^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?)\s*$/.exec(
      text,
    );
  if (!match) return undefined;
  const base = Number(match[1] + (match[2] ?? ''));
  return Math.ceil(base * kubernetesSuffixes[match[3] ?? '']!);
}

/**
 * Parses a Docker size (`16g`, `10G`, `512m`, `1024`; b, k, m, g, t are powers of 1024) into
 * bytes, or `undefined`.
 */
export function parseDockerSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*$/i.exec(text);
  if (!match) return undefined;
  const power = 'bkmgt'.indexOf((match[2] || 'b').toLowerCase());
  return Math.round(Number(match[1]) * 1024 ** power);
}
