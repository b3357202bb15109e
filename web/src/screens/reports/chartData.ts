// What a report's chart draws, worked out from its rows and chart hint: the categories along x and
// one series of numbers per y column (or per value of the series column). Kept apart from the
// drawing so that the text alternative says exactly what the picture shows.
import { label } from '../../format';
import type { Report } from './types';

export interface Series {
  label: string;
  values: (number | null)[];
}

export interface ChartData {
  categories: string[];
  series: Series[];
}

function number(value: unknown): number | null {
  if (value === null || value === undefined || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

export function chartData(report: Report): ChartData {
  const { chart, columns } = report;
  const where = chart.where ?? {};
  const rows = report.rows.filter((row) => Object.entries(where).every(([k, v]) => row[k] === v));
  const columnLabel = (name: string) => columns.find((c) => c.name === name)?.label ?? label(name);
  if (chart.series) {
    const categories = [...new Set(rows.map((r) => String(r[chart.x] ?? '')))];
    const names = [...new Set(rows.map((r) => String(r[chart.series as string] ?? '')))];
    const y = chart.y[0];
    return {
      categories,
      series: names.map((name) => ({
        label: label(name),
        values: categories.map((c) => {
          const row = rows.find((r) => String(r[chart.x] ?? '') === c && String(r[chart.series as string] ?? '') === name);
          return row ? number(row[y]) : 0;
        }),
      })),
    };
  }
  return {
    categories: rows.map((r) => String(r[chart.x] ?? '')),
    series: chart.y.map((y) => ({ label: columnLabel(y), values: rows.map((r) => number(r[y])) })),
  };
}

/** The chart in words, for screen readers (the table below has every figure). */
export function describe(report: Report, data: ChartData): string {
  if (data.categories.length === 0) return `${report.title}: no data in this range.`;
  const kind = report.chart.type === 'line' ? 'Line chart' : 'Bar chart';
  const parts = data.series.map((s) => {
    const total = s.values.reduce<number>((sum, v) => sum + (v ?? 0), 0);
    const peak = Math.max(...s.values.map((v) => v ?? 0));
    const at = data.categories[s.values.findIndex((v) => (v ?? 0) === peak)];
    return `${s.label}: total ${Math.round(total * 100) / 100}, highest ${peak} at ${label(at ?? '')}`;
  });
  return `${kind} of ${report.title} over ${data.categories.length} ${data.categories.length === 1 ? 'entry' : 'entries'}. ${parts.join('; ')}. The figures are in the table below.`;
}
