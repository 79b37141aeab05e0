// The download of a widget that shows company values per period (the trend, a plugin's own
// widget): one row per period, each metric's value in its unit and its sample beside it.
import { fileName, kpiCell, kpiHeader, rangeSlug, sampleHeader, type Download } from "../components/download";
import { formatPeriod, kpiName } from "../format";
import type { KpiValue } from "../types";
import type { DashboardData } from "./data";

/** ``rows`` (the metrics' values in the range) as a download named after ``title``; null without values. */
export function periodsDownload(title: string, data: DashboardData, metrics: string[], rows: KpiValue[]): Download | null {
  if (!rows.some((row) => row.value !== null)) return null;
  const periods = [...new Set(rows.map((row) => row.period_start))].sort();
  const kpis = metrics.map((key) => data.kpis.get(key));
  const label = (index: number) => kpiName(metrics[index], kpis[index]);
  return {
    name: fileName(title, rangeSlug(periods[0], periods[periods.length - 1], data.filters.period)),
    table: () => ({
      header: [
        "Period",
        "First day",
        ...metrics.flatMap((_, i) => [kpiHeader(label(i), kpis[i]), sampleHeader(label(i), kpis[i])]),
      ],
      rows: periods.map((period) => [
        formatPeriod(period, data.filters.period),
        period,
        ...metrics.flatMap((key, i) => {
          const row = rows.find((r) => r.kpi === key && r.period_start === period);
          return [kpiCell(row?.value, kpis[i]), row && row.value !== null ? row.denominator : null];
        }),
      ]),
    }),
  };
}
