/** An SVG chart of throughput by request size, for `dynamo-memory bench --svg FILE`. */
import type { DirectIoBenchmarkRow } from '../direct-io-bench.js';
import { formatSize } from '../size.js';

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Renders one line per (case, engine): MB/s (best pass) against request size on a log2 axis.
 * Random 4 KiB reads sit at their depth's point; the chart is meant for the sequential cases.
 */
export function throughputChart(rows: readonly DirectIoBenchmarkRow[], title: string): string {
  const width = 720;
  const height = 420;
  const margin = { left: 70, right: 180, top: 40, bottom: 50 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;

  // best MB/s per series and request size
  const series = new Map<string, Map<number, number>>();
  for (const row of rows) {
    if (row.case === 'randread') continue;
    const name = `${row.case} ${row.engine}`;
    const points = series.get(name) ?? new Map<number, number>();
    points.set(row.blockSize, Math.max(points.get(row.blockSize) ?? 0, row.mbps));
    series.set(name, points);
  }
  const sizes = [...new Set([...series.values()].flatMap((points) => [...points.keys()]))].sort(
    (a, b) => a - b,
  );
  const maxMbps = Math.max(1, ...[...series.values()].flatMap((points) => [...points.values()]));
  const minLog = Math.log2(sizes[0] ?? 1);
  const maxLog = Math.log2(sizes[sizes.length - 1] ?? 2);
  const x = (size: number) =>
    margin.left +
    (maxLog === minLog
      ? plotWidth / 2
      : ((Math.log2(size) - minLog) / (maxLog - minLog)) * plotWidth);
  const y = (mbps: number) => margin.top + plotHeight - (mbps / maxMbps) * plotHeight;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    `<line x1="${margin.left}" y1="${margin.top + plotHeight}" x2="${margin.left + plotWidth}" y2="${margin.top + plotHeight}" stroke="black"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${margin.top + plotHeight}" stroke="black"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle">request size</text>`,
    `<text transform="translate(18 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">MB/s</text>`,
  ];
  for (const size of sizes) {
    parts.push(
      `<text x="${x(size)}" y="${margin.top + plotHeight + 18}" text-anchor="middle">${formatSize(size)}</text>`,
    );
  }
  for (let tick = 0; tick <= 4; tick++) {
    const value = (maxMbps * tick) / 4;
    parts.push(
      `<text x="${margin.left - 8}" y="${y(value) + 4}" text-anchor="end">${Math.round(value)}</text>`,
      `<line x1="${margin.left}" y1="${y(value)}" x2="${margin.left + plotWidth}" y2="${y(value)}" stroke="#ddd"/>`,
    );
  }
  [...series.entries()].forEach(([name, points], index) => {
    const colour = palette[index % palette.length]!;
    const ordered = [...points.entries()].sort((a, b) => a[0] - b[0]);
    const path = ordered.map(
      ([size, mbps], i) => `${i === 0 ? 'M' : 'L'}${x(size).toFixed(1)},${y(mbps).toFixed(1)}`,
    );
    parts.push(`<path d="${path.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const [size, mbps] of ordered) {
      parts.push(
        `<circle cx="${x(size).toFixed(1)}" cy="${y(mbps).toFixed(1)}" r="3" fill="${colour}"/>`,
      );
    }
    const legendY = margin.top + 10 + index * 18;
    parts.push(
      `<line x1="${width - margin.right + 15}" y1="${legendY}" x2="${width - margin.right + 35}" y2="${legendY}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${width - margin.right + 40}" y="${legendY + 4}">${escapeXml(name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
