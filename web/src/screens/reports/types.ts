// The shapes of GET /api/v1/reports and GET /api/v1/reports/{name} (api/openapi.json: Report).

export interface ReportColumn {
  name: string;
  label: string;
  type: 'text' | 'integer' | 'number' | 'date';
}

export interface ReportChart {
  type: 'bar' | 'line';
  x: string;
  y: string[];
  series?: string;
  where?: Record<string, string>;
}

export interface ReportInfo {
  name: string;
  title: string;
  description: string;
  columns: ReportColumn[];
  chart: ReportChart;
}

export type Cell = string | number | null;

export interface Report extends ReportInfo {
  report: string;
  from: string;
  to: string;
  time_zone: string;
  filters: { team_id: number | null; priority: string | null };
  rows: Record<string, Cell>[];
}
