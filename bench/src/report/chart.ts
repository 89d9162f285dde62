import type { ResultsFile } from './results.js';
import { summarize, type VariantSummary } from './summary.js';

/**
 * The throughput comparison as an SVG bar chart, drawn from a results file
 * alone (like the tables): one bar per variant, grouped by platform, its
 * length the variant's median req/s as a share of its platform's ceiling,
 * keycard's bars coloured and the stacks users run today grey, with the
 * min–max spread over rounds as a whisker. Hand-drawn SVG: a chart library
 * would be a dependency for fifty lines.
 */
const WIDTH = 1080;
const LABEL = 300;
const ROW = 24;
const BAR = 16;
const TOP = 56;
const GROUP_GAP = 30;
const PLOT_MARGIN = 170; // room right of the longest bar for its figures
const SCALE_MAX = 1.5; // 150 % of the ceiling, so whiskers above it still show

const COLOURS = { ceiling: '#4b5563', keycard: '#2563eb', other: '#9ca3af' } as const;

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function colourOf(variant: VariantSummary): string {
  if (variant.ceiling) return COLOURS.ceiling;
  return variant.keycard ? COLOURS.keycard : COLOURS.other;
}

export interface ChartBar {
  readonly variant: string;
  readonly share: number;
  readonly width: number;
}

/** The bars the chart draws (for tests): each variant's share of its ceiling and its bar width in pixels. */
export function chartBars(results: Pick<ResultsFile, 'variants' | 'samples' | 'commands'>): ChartBar[] {
  const plot = WIDTH - LABEL - PLOT_MARGIN;
  return summarize(results)
    .variants.filter((variant) => variant.vsCeiling !== undefined)
    .map((variant) => ({
      variant: variant.name,
      share: variant.vsCeiling as number,
      width: Math.round((Math.min(variant.vsCeiling as number, SCALE_MAX) / SCALE_MAX) * plot),
    }));
}

export function renderChart(results: ResultsFile): string {
  const plot = WIDTH - LABEL - PLOT_MARGIN;
  const x = (share: number): number => LABEL + (Math.min(share, SCALE_MAX) / SCALE_MAX) * plot;
  const { variants } = summarize(results);
  const groups = (['express', 'fastify'] as const)
    .map((platform) => variants.filter((variant) => variant.platform === platform && variant.vsCeiling !== undefined))
    .filter((group) => group.length > 0);
  const rows = groups.reduce((count, group) => count + group.length, 0);
  const height = TOP + rows * ROW + groups.length * GROUP_GAP + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">Authenticated reads (GET /me), req/s as a share of the platform's no-session ceiling</text>`,
    `<text x="10" y="38" fill="#4b5563">${escapeXml(
      `${results.startedAt} · ${results.options.rounds} × ${results.options.duration} s, ${results.options.connections} connections · medians over rounds, whiskers min–max · blue: keycard, grey: the stacks users run today`,
    )}</text>`,
  ];
  let y = TOP;
  for (const group of groups) {
    const ceiling = group.find((variant) => variant.ceiling);
    parts.push(`<text x="10" y="${y + 14}" font-weight="bold">${group[0]?.platform === 'express' ? 'Express' : 'Fastify'}${ceiling ? ` (ceiling ${Math.round(ceiling.rps)} req/s)` : ''}</text>`);
    y += 20;
    const top = y;
    for (const variant of group) {
      const share = variant.vsCeiling as number;
      const spread = (value: number): number => x(ceiling ? value / ceiling.rps : share);
      parts.push(
        `<text x="${LABEL - 8}" y="${y + BAR - 4}" text-anchor="end">${escapeXml(`${variant.label} ${variant.name}`)}</text>`,
        `<rect x="${LABEL}" y="${y}" width="${(x(share) - LABEL).toFixed(1)}" height="${BAR}" fill="${colourOf(variant)}"/>`,
        `<line x1="${spread(variant.rpsMin).toFixed(1)}" x2="${spread(variant.rpsMax).toFixed(1)}" y1="${y + BAR / 2}" y2="${y + BAR / 2}" stroke="#111827" stroke-width="1"/>`,
        `<text x="${(Math.max(x(share), spread(variant.rpsMax)) + 6).toFixed(1)}" y="${y + BAR - 4}">${Math.round(share * 100)} % · ${Math.round(variant.rps)} req/s</text>`,
      );
      y += ROW;
    }
    parts.push(`<line x1="${x(1).toFixed(1)}" x2="${x(1).toFixed(1)}" y1="${top - 4}" y2="${y}" stroke="#111827" stroke-dasharray="4 3"/>`);
    y += GROUP_GAP - 20;
  }
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<text x="${x(tick).toFixed(1)}" y="${y + 16}" text-anchor="middle" fill="#4b5563">${tick * 100} %</text>`);
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
