// Numbers and dates in the reader's locale (the browser's language).
import type { KpiDefinition } from "./types";

export const locale = navigator.language || "en-US";

const percent = new Intl.NumberFormat(locale, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
const decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
const oneDecimal = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const money = new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const signedPoints = new Intl.NumberFormat(locale, { maximumFractionDigits: 1, signDisplay: "exceptZero" });

export function formatNumber(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : decimal.format(value);
}

export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : integer.format(value);
}

export function formatScore(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : oneDecimal.format(value);
}

export function isRatio(kpi?: Pick<KpiDefinition, "unit"> | null): boolean {
  return kpi?.unit === "ratio";
}

/** A KPI value in its unit: ratios as percentages, means with their unit. */
export function formatKpi(value: number | null | undefined, kpi?: KpiDefinition | null): string {
  if (value === null || value === undefined) return "–";
  if (isRatio(kpi)) return percent.format(value);
  // The company's currency is not known here: amounts are plain numbers with cents.
  if (kpi?.unit === "currency") return money.format(value);
  const unit = kpi?.unit ? ` ${kpi.unit}` : "";
  return `${oneDecimal.format(value)}${unit}`;
}

/** The change between two values: percentage points for ratios, plain difference otherwise. */
export function formatChange(change: number | null | undefined, kpi?: KpiDefinition | null): string {
  if (change === null || change === undefined) return "–";
  return isRatio(kpi) ? `${signedPoints.format(change * 100)} pp` : signedPoints.format(change);
}

export function formatSigned(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : signedPoints.format(value);
}

const monthFormat = new Intl.DateTimeFormat(locale, { month: "short", year: "numeric", timeZone: "UTC" });
const dayFormat = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const stampFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });

/** A period's first day (YYYY-MM-DD) as the reader would name the period. */
export function formatPeriod(periodStart: string, period: string): string {
  const date = new Date(`${periodStart}T00:00:00Z`);
  if (period === "month") return monthFormat.format(date);
  if (period === "year") return String(date.getUTCFullYear());
  if (period === "quarter") return `Q${Math.floor(date.getUTCMonth() / 3) + 1} ${date.getUTCFullYear()}`;
  return dayFormat.format(date);
}

export function formatDate(day: string | null | undefined): string {
  return day ? dayFormat.format(new Date(`${day.slice(0, 10)}T00:00:00Z`)) : "–";
}

export function formatStamp(stamp: string | null | undefined): string {
  return stamp ? stampFormat.format(new Date(stamp)) : "–";
}
