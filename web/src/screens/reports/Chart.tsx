// The report's chart, drawn by uPlot (bundled, on a canvas; its styles are set through the DOM,
// which the Content-Security-Policy allows). Categories are placed at 0, 1, 2 … and named on the
// x axis; a ResizeObserver keeps it as wide as its container (360 px screens included).
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { label } from '../../format';
import type { ChartData } from './chartData';

const COLOURS = ['#1f4fbf', '#c2410c', '#15803d', '#7e22ce', '#0f766e', '#a16207'];
const HEIGHT = 260;

function tick(category: string): string {
  return /^\d{4}-\d{2}-\d{2}$/.test(category) ? category.slice(5) : label(category);
}

export default function Chart({ data, type, description, xLabel }: {
  data: ChartData; type: 'bar' | 'line'; description: string; xLabel: string;
}) {
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = box.current;
    if (!el || data.categories.length === 0) return undefined;
    const n = data.series.length;
    const bars = type === 'bar';
    const groupWidth = 0.8;
    const options: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height: HEIGHT,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false, range: [-0.5, data.categories.length - 0.5] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [
        {
          space: 56,
          // Days as MM-DD: the year is in the heading, and ten labels fit a phone.
          values: (_u, splits) => splits.map((v) => (Number.isInteger(v) ? tick(data.categories[v] ?? '') : '')),
        },
        {},
      ],
      series: [
        { label: xLabel },
        ...data.series.map((s, i) => ({
          label: s.label,
          stroke: COLOURS[i % COLOURS.length],
          fill: bars ? COLOURS[i % COLOURS.length] : undefined,
          width: bars ? 0 : 2,
          paths: bars
            ? uPlot.paths.bars!({
                disp: {
                  // Side by side within each category: left edges and widths in x-scale units.
                  x0: { unit: 1, values: () => data.categories.map((_c, k) => k - groupWidth / 2 + (i * groupWidth) / n) },
                  size: { unit: 1, values: () => [groupWidth / n] },
                },
              } as uPlot.Series.BarsPathBuilderOpts)
            : undefined,
          points: { show: !bars && data.categories.length < 40 },
        })),
      ],
    };
    const plot = new uPlot(options, [data.categories.map((_c, i) => i), ...data.series.map((s) => s.values)], el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [data, type, xLabel]);

  return (
    <div className="report-chart" ref={box} role="img" aria-label={description} />
  );
}
