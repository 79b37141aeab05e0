// The numbers of a widget or a table as a file: CSV text that is safe in a spreadsheet (numbers
// rounded, units in the header, formulas neutralised), file names in words, and saving to disk.
import { companySettings, isMoney, isRatio } from "../format";
import type { KpiDefinition } from "../types";

/** One CSV cell: text, or a number written as the reader should get it (already rounded). */
export type Cell = string | number | null | undefined;

export interface CsvTable {
  header: string[];
  rows: Cell[][];
}

// OWASP's CSV injection rule, as plugins/reports_csv/reports_csv/cells.py applies it: a text
// cell that a spreadsheet would read as a formula gets a leading ' (also after a separator a
// reader may split on), so a name typed as "=HYPERLINK(...)" stays text.
const TRIGGERS = "=+-@\t\r";
const INNER_TRIGGER = /([,;\t\r\n])(?="*[=+\-@\t\r])/g;

export function neutralise(text: string): string {
  const inner = text.replace(INNER_TRIGGER, "$1'");
  return inner !== "" && TRIGGERS.includes(inner[0]) ? `'${inner}` : inner;
}

function cellText(cell: Cell): string {
  if (cell === null || cell === undefined) return "";
  if (typeof cell === "number") {
    if (!Number.isFinite(cell)) return "";
    // Plain decimal notation with a point, whatever the reader's locale: every spreadsheet parses it.
    return Object.is(cell, -0) ? "0" : String(cell);
  }
  return neutralise(cell);
}

function quoted(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The table as CSV text (RFC 4180, CRLF line ends). */
export function csvText(table: CsvTable): string {
  const lines = [table.header, ...table.rows].map((row) => row.map((cell) => quoted(cellText(cell))).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

/** ``value`` rounded to ``digits`` decimals, as a number (0.1 + 0.2 gives 0.3, not 0.30000000000000004). */
export function round(value: number | null | undefined, digits: number): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const factor = 10 ** digits;
  return Math.round((value + Number.EPSILON * Math.sign(value)) * factor) / factor;
}

/** A KPI value as a CSV cell in the unit its header names: rates in %, money to the cent. */
export function kpiCell(value: number | null | undefined, kpi?: Pick<KpiDefinition, "unit"> | null): number | null {
  if (value === null || value === undefined) return null;
  if (isRatio(kpi)) return round(value * 100, 1);
  return round(value, 2);
}

/** The unit a KPI's CSV column is written in, for its header: "%", the currency code, "stars". */
export function unitLabel(kpi?: Pick<KpiDefinition, "unit"> | null): string {
  if (!kpi) return "";
  if (isRatio(kpi)) return "%";
  if (isMoney(kpi)) return companySettings().currency;
  return kpi.unit;
}

/** A KPI's column header: its label with its unit, "First-time fix rate (%)", "Revenue per job (USD)". */
export function kpiHeader(label: string, kpi?: Pick<KpiDefinition, "unit"> | null): string {
  const unit = unitLabel(kpi);
  return unit ? `${label} (${unit})` : label;
}

/** What a KPI's sample counts, for a header: jobs or evaluations. */
export function sampleHeader(label: string, kpi?: Pick<KpiDefinition, "source"> | null): string {
  return `${label}: ${kpi?.source === "evaluations" ? "evaluations" : "jobs"} counted`;
}

/** Words as a file name: "First-time fix · Nov 2026" -> "first-time-fix-nov-2026". */
export function fileName(...parts: (string | null | undefined)[]): string {
  return (
    parts
      .filter((part): part is string => !!part)
      .join(" ")
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 120) || "download"
  );
}

/** A period as it belongs in a file name: "2026-11", "2026-q3", "2026", "2026-11-02". */
export function periodSlug(periodStart: string, period: string): string {
  if (period === "month") return periodStart.slice(0, 7);
  if (period === "year") return periodStart.slice(0, 4);
  if (period === "quarter") return `${periodStart.slice(0, 4)}-q${Math.floor((Number(periodStart.slice(5, 7)) - 1) / 3) + 1}`;
  return periodStart;
}

/** The periods from ``first`` to ``last`` for a file name: one period, or "2026-07-to-2026-12". */
export function rangeSlug(first: string, last: string, period: string): string {
  const [from, to] = [periodSlug(first, period), periodSlug(last, period)];
  return from === to ? from : `${from}-to-${to}`;
}

function save(name: string, href: string): void {
  const link = document.createElement("a");
  link.href = href;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
}

export function saveCsv(name: string, table: CsvTable): void {
  // The byte-order mark makes Excel read the file as UTF-8 (names with accents stay whole).
  const blob = new Blob(["\ufeff", csvText(table)], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  save(`${name}.csv`, url);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function savePng(name: string, dataUrl: string): void {
  save(`${name}.png`, dataUrl);
}
