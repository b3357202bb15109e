// The managers' reports (a lazily loaded chunk with its chart library): pick a report, a range of
// days and filters; see a chart, the table of figures, and download the same as CSV. The choices
// live in the URL (?report=&from=&to=&team_id=&priority=) so a report can be bookmarked and shared.
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router-dom';
import { api, errorText, isAbort, PRIORITIES, query, type Page } from '../../api';
import { label } from '../../format';
import '../../reports.css';
import Chart from './Chart';
import { chartData, describe } from './chartData';
import type { Cell, Report, ReportColumn, ReportInfo } from './types';

interface TeamChoice {
  id: number;
  name: string;
}

function isoDay(date: Date): string {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
}

function cellText(column: ReportColumn, value: Cell): string {
  if (value === null || value === undefined) return '—';
  if (column.type === 'number') return Number(value).toLocaleString(undefined, { maximumFractionDigits: 2 });
  if (column.type === 'integer') return Number(value).toLocaleString();
  if (column.name === 'status' || column.name === 'priority' || column.name === 'dimension') return label(String(value));
  return String(value);
}

export default function Reports() {
  const [params, setParams] = useSearchParams();
  const [catalog, setCatalog] = useState<ReportInfo[]>([]);
  const [teams, setTeams] = useState<TeamChoice[]>([]);
  const [report, setReport] = useState<Report | null>(null);
  const [error, setError] = useState('');
  const [loading, setLoading] = useState(false);
  const name = params.get('report') ?? 'created-resolved';
  const chosen = useMemo(() => ({
    from: params.get('from') ?? '',
    to: params.get('to') ?? '',
    team_id: params.get('team_id') ?? '',
    priority: params.get('priority') ?? '',
  }), [params]);
  const [form, setForm] = useState(chosen);
  useEffect(() => setForm(chosen), [chosen]);

  useEffect(() => {
    const controller = new AbortController();
    Promise.all([
      api<Page<ReportInfo>>('GET', '/api/v1/reports', undefined, { signal: controller.signal }),
      api<Page<TeamChoice>>('GET', '/api/v1/admin/teams?limit=200', undefined, { signal: controller.signal }),
    ]).then(([reports, teamPage]) => {
      setCatalog(reports.items);
      setTeams(teamPage.items);
    }).catch((e) => {
      if (!isAbort(e)) setError(errorText(e));
    });
    return () => controller.abort();
  }, []);

  const search = query({ from: chosen.from, to: chosen.to, team_id: chosen.team_id, priority: chosen.priority });
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError('');
    api<Report>('GET', `/api/v1/reports/${encodeURIComponent(name)}${search}`, undefined, { signal: controller.signal })
      .then((r) => setReport(r))
      .catch((e) => {
        if (!isAbort(e)) {
          setReport(null);
          setError(errorText(e));
        }
      })
      .finally(() => setLoading(false));
    return () => controller.abort();
  }, [name, search]);

  const data = useMemo(() => (report ? chartData(report) : null), [report]);
  const description = report && data ? describe(report, data) : '';

  function choose(next: Record<string, string>) {
    const merged = { report: name, ...chosen, ...next };
    setParams(Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== '')));
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    choose(form);
  }

  function lastDays(days: number) {
    const to = new Date();
    const from = new Date(to);
    from.setDate(to.getDate() - (days - 1));
    choose({ from: isoDay(from), to: isoDay(to) });
  }

  const csvHref = `/api/v1/reports/${encodeURIComponent(name)}${query({
    from: report?.from ?? chosen.from, to: report?.to ?? chosen.to, team_id: chosen.team_id, priority: chosen.priority, format: 'csv',
  })}`;

  return (
    <div className="reports">
      <h1>Reports</h1>
      <nav aria-label="Reports" className="report-picker">
        <ul>
          {catalog.map((r) => (
            <li key={r.name}>
              <button type="button" className={r.name === name ? 'chip current' : 'chip'} aria-current={r.name === name ? 'page' : undefined}
                      onClick={() => choose({ report: r.name })}>
                {r.title}
              </button>
            </li>
          ))}
        </ul>
      </nav>
      <form className="report-filters" onSubmit={onSubmit} aria-label="Range and filters">
        <label>From <input type="date" value={form.from || report?.from || ''} onChange={(e) => setForm({ ...form, from: e.target.value })} /></label>
        <label>To <input type="date" value={form.to || report?.to || ''} onChange={(e) => setForm({ ...form, to: e.target.value })} /></label>
        <label>Team
          <select value={form.team_id} onChange={(e) => setForm({ ...form, team_id: e.target.value })}>
            <option value="">All teams</option>
            {teams.map((t) => <option key={t.id} value={String(t.id)}>{t.name}</option>)}
          </select>
        </label>
        <label>Priority
          <select value={form.priority} onChange={(e) => setForm({ ...form, priority: e.target.value })}>
            <option value="">All priorities</option>
            {PRIORITIES.map((p) => <option key={p} value={p}>{label(p)}</option>)}
          </select>
        </label>
        <button type="submit">Show</button>
        <span className="quick">
          <button type="button" className="link" onClick={() => lastDays(7)}>Last 7 days</button>
          <button type="button" className="link" onClick={() => lastDays(30)}>Last 30 days</button>
          <button type="button" className="link" onClick={() => lastDays(90)}>Last 90 days</button>
        </span>
      </form>
      {error && <p className="error" role="alert">{error}</p>}
      <p className="loading" role="status" aria-live="polite">{loading ? 'Loading…' : ''}</p>
      {report && data && (
        <section aria-labelledby="report-title">
          <h2 id="report-title">{report.title}</h2>
          <p className="muted">{report.description} {report.from} to {report.to} ({report.time_zone}).</p>
          <Chart data={data} type={report.chart.type} description={description}
                 xLabel={report.columns.find((c) => c.name === report.chart.x)?.label ?? ''} />
          <p><a className="button" href={csvHref} download>Download CSV</a></p>
          {/* Focusable so that keyboard users can scroll a wide table on a narrow screen. */}
          <div className="table-scroll" tabIndex={0} role="region" aria-label={`${report.title}: figures`}>
            <table className="report-table">
              <caption>{report.title}, {report.from} to {report.to}</caption>
              <thead>
                <tr>{report.columns.map((c) => <th key={c.name} scope="col">{c.label}</th>)}</tr>
              </thead>
              <tbody>
                {report.rows.length === 0 && <tr><td colSpan={report.columns.length}>No tickets in this range.</td></tr>}
                {report.rows.map((row, i) => (
                  <tr key={i}>
                    {report.columns.map((c, j) => (j === 0
                      ? <th key={c.name} scope="row">{cellText(c, row[c.name])}</th>
                      : <td key={c.name} className={c.type === 'text' || c.type === 'date' ? undefined : 'num'}>{cellText(c, row[c.name])}</td>))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </div>
  );
}
