// THE formatting module: every number, amount, date and time on screen goes through it.
// Numbers are written in the reader's locale (the browser's language); money in the company's
// currency (KPI_CURRENCY) and times in the company's time zone (KPI_TIMEZONE), labelled with the
// zone's short name, never in the browser's zone. The shell calls configureCompany() once with
// what GET /api/v1/dashboard says, before the first page is drawn.
import type { Company, KpiDefinition } from "./types";

export const locale = navigator.language || "en-US";

export type { Company };

const percent = new Intl.NumberFormat(locale, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
const decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
const oneDecimal = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const upToOneDecimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const signedPoints = new Intl.NumberFormat(locale, { maximumFractionDigits: 1, signDisplay: "exceptZero" });

let company: Company = { currency: "USD", timezone: "UTC" };
let money = moneyFormat(company.currency);
let axisMoney = moneyFormat(company.currency, 0);
let signedMoney = moneyFormat(company.currency, undefined, "exceptZero");
let stampFormat = stampFormatIn(company.timezone);
let dayInZone = dayFormatIn(company.timezone);

function moneyFormat(currency: string, digits?: number, signDisplay?: "exceptZero"): Intl.NumberFormat {
  return new Intl.NumberFormat(locale, {
    style: "currency",
    currency,
    ...(digits === undefined ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits }),
    ...(signDisplay ? { signDisplay } : {}),
  });
}

function stampFormatIn(timeZone: string): Intl.DateTimeFormat {
  // dateStyle/timeStyle cannot be combined with timeZoneName: the parts are spelled out.
  return new Intl.DateTimeFormat(locale, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZone,
    timeZoneName: "short",
  });
}

function dayFormatIn(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric", timeZone });
}

/** Use the company's currency and time zone from now on (an unknown one keeps the previous). */
export function configureCompany(next: Partial<Company> | null | undefined): void {
  const wanted = { ...company, ...(next ?? {}) };
  try {
    money = moneyFormat(wanted.currency);
    axisMoney = moneyFormat(wanted.currency, 0);
    signedMoney = moneyFormat(wanted.currency, undefined, "exceptZero");
    stampFormat = stampFormatIn(wanted.timezone);
    dayInZone = dayFormatIn(wanted.timezone);
    company = wanted;
  } catch {
    configureCompany(company); // a code or zone this browser does not know: keep what worked
  }
}

export function companySettings(): Company {
  return { ...company };
}

/** The company time zone's short name now ("CST", "GMT+1", "UTC"), for labels such as "Times in CST". */
export function zoneName(at: Date = new Date()): string {
  return stampFormat.formatToParts(at).find((part) => part.type === "timeZoneName")?.value ?? company.timezone;
}

export function formatNumber(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : decimal.format(value);
}

export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : integer.format(value);
}

export function formatScore(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : oneDecimal.format(value);
}

/** An amount of money in the company's currency: "$262.80". */
export function formatMoney(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : money.format(value);
}

export function isRatio(kpi?: Pick<KpiDefinition, "unit"> | null): boolean {
  return kpi?.unit === "ratio";
}

export function isMoney(kpi?: Pick<KpiDefinition, "unit"> | null): boolean {
  return kpi?.unit === "currency";
}

/** A crew member's share of a job's credit (0 to 1) as a percentage: "60 %", "33.3 %". */
export function formatShare(share: number | null | undefined): string {
  return share === null || share === undefined ? "–" : `${upToOneDecimal.format(share * 100)} %`;
}

/** A KPI value in its unit: ratios as percentages, money in the company's currency, means with their unit. */
export function formatKpi(value: number | null | undefined, kpi?: Pick<KpiDefinition, "unit"> | null): string {
  if (value === null || value === undefined) return "–";
  if (isRatio(kpi)) return percent.format(value);
  if (isMoney(kpi)) return money.format(value);
  const unit = kpi?.unit ? ` ${kpi.unit}` : "";
  return `${oneDecimal.format(value)}${unit}`;
}

/** A part of a KPI value (what the drill-down counts): money for money KPIs, else a rounded number. */
export function formatKpiPart(value: number | null | undefined, kpi?: Pick<KpiDefinition, "unit"> | null): string {
  if (value === null || value === undefined) return "–";
  return isMoney(kpi) ? money.format(value) : decimal.format(value);
}

/** A chart axis tick; ``value`` is as plotted (ratios already in percent). */
export function formatAxis(value: number, kpi?: Pick<KpiDefinition, "unit"> | null): string {
  if (isRatio(kpi)) return `${upToOneDecimal.format(value)} %`;
  if (isMoney(kpi)) return axisMoney.format(value);
  return upToOneDecimal.format(value);
}

/** The change between two values: percentage points for ratios, money for money, plain difference otherwise. */
export function formatChange(change: number | null | undefined, kpi?: Pick<KpiDefinition, "unit"> | null): string {
  if (change === null || change === undefined) return "–";
  if (isRatio(kpi)) return `${signedPoints.format(change * 100)} pp`;
  return isMoney(kpi) ? signedMoney.format(change) : signedPoints.format(change);
}

export function formatSigned(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : signedPoints.format(value);
}

// Periods and calendar days are local dates already (the API computes them in the company's zone):
// they are written as they are, never shifted into any zone.
const monthFormat = new Intl.DateTimeFormat(locale, { month: "short", year: "numeric", timeZone: "UTC" });
const dayFormat = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });

/** A period's first day (YYYY-MM-DD) as the reader would name the period. */
export function formatPeriod(periodStart: string, period: string): string {
  const date = new Date(`${periodStart}T00:00:00Z`);
  if (period === "month") return monthFormat.format(date);
  if (period === "year") return String(date.getUTCFullYear());
  if (period === "quarter") return `Q${Math.floor(date.getUTCMonth() / 3) + 1} ${date.getUTCFullYear()}`;
  return dayFormat.format(date);
}

/** A calendar day: its first ten characters (YYYY-MM-DD) as the day they name. */
export function formatDate(day: string | null | undefined): string {
  return day ? dayFormat.format(new Date(`${day.slice(0, 10)}T00:00:00Z`)) : "–";
}

/** The day an instant falls on in the company's time zone: "Mar 1, 2026". */
export function formatDayOf(stamp: string | null | undefined): string {
  return stamp ? dayInZone.format(new Date(stamp)) : "–";
}

/** An instant in the company's time zone, with the zone's short name: "Mar 1, 2026, 9:30 AM CST". */
export function formatStamp(stamp: string | null | undefined): string {
  return stamp ? stampFormat.format(new Date(stamp)) : "–";
}

/** The company-zone calendar day (YYYY-MM-DD) an instant falls on, for links and date filters. */
export function localDay(stamp: string | Date): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    timeZone: company.timezone,
  }).formatToParts(typeof stamp === "string" ? new Date(stamp) : stamp);
  const get = (type: string) => parts.find((part) => part.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")}`;
}

// How far a value can be trusted, in words (the API's complete, status, certain, interval, pending).

/** A period named for reading, with "so far" while it is under way. */
export function formatPeriodSoFar(periodStart: string, period: string, complete: boolean): string {
  return complete ? formatPeriod(periodStart, period) : `${formatPeriod(periodStart, period)} so far`;
}

/** A rate's 95 % interval as "± 3.4 pp" around its value ("" where there is none). */
export function formatInterval(
  row: { value: number | null; ci_low: number | null; ci_high: number | null },
  kpi?: Pick<KpiDefinition, "unit"> | null,
): string {
  if (!isRatio(kpi) || row.value === null || row.ci_low === null || row.ci_high === null) return "";
  const half = Math.max(row.value - row.ci_low, row.ci_high - row.value) * 100;
  return `± ${upToOneDecimal.format(half)} pp`;
}

/**
 * A value's status in words: its colour ("amber so far" while its period is under way, ", borderline"
 * where its 95 % interval crosses a threshold), "too few jobs" below the KPI's minimum sample, or
 * "no target".
 */
export function formatStatus(
  row: { status: string | null; certain?: boolean | null; complete?: boolean },
  facts = "jobs",
): string {
  if (row.status === null || row.status === undefined) return "no target";
  if (row.status === "insufficient") return `too few ${facts}`;
  const colour = row.complete === false ? `${row.status} so far` : row.status;
  return row.certain === false ? `${colour}, borderline` : colour;
}

const TARGET_WORDS: Record<string, string> = { green: "on target", amber: "close to target", red: "off target" };

/**
 * A value's status said against its target, for a reader who does not see the colour: "on target",
 * "close to target so far", "off target, borderline", "too few jobs", "no target".
 */
export function formatTargetStatus(
  row: { status: string | null; certain?: boolean | null; complete?: boolean },
  facts = "jobs",
): string {
  if (row.status === null || row.status === undefined) return "no target";
  if (row.status === "insufficient") return `too few ${facts}`;
  const words = TARGET_WORDS[row.status] ?? wordsOf(row.status);
  const colour = row.complete === false ? `${words} so far` : words;
  return row.certain === false ? `${colour}, borderline` : colour;
}

// Names in words: nothing on screen is a key, a column or an API value as the API spells it.

/** An identifier's last part in words, as a last resort: "quality.first_time_fix_rate" -> "First time fix rate". */
export function wordsOf(identifier: string): string {
  const words = (identifier.split(".").pop() ?? identifier).replace(/[_\-\s]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "";
}

/**
 * A KPI's name: its label (from its definition, or from an answer that carries one, such as a
 * scorecard's contribution); a KPI no longer declared by any plugin is named from its key in words.
 */
export function kpiName(key: string, ...named: (Pick<KpiDefinition, "label"> | { label?: string | null } | null | undefined)[]): string {
  return named.map((kpi) => kpi?.label).find((label) => !!label) ?? wordsOf(key);
}

/** The statuses of a job, in the order a filter offers them. */
export const JOB_STATUSES = ["scheduled", "completed", "cancelled"] as const;

const JOB_STATUS_WORDS: Record<string, string> = {
  scheduled: "Scheduled",
  completed: "Completed",
  cancelled: "Cancelled",
};

/** A job's status in words: "Completed", not "completed". */
export function formatJobStatus(status: string | null | undefined): string {
  return status ? (JOB_STATUS_WORDS[status] ?? wordsOf(status)) : "–";
}

const RUN_STATUS_WORDS: Record<string, string> = {
  queued: "Waiting to run",
  running: "Running",
  finished: "Finished",
  failed: "Failed",
};

/** A background job run's status in words. */
export function formatRunStatus(status: string | null | undefined): string {
  return status ? (RUN_STATUS_WORDS[status] ?? wordsOf(status)) : "–";
}

/** The roles, in the order a form offers them. */
export const ROLES = ["technician", "manager", "admin"] as const;

const ROLE_WORDS: Record<string, string> = { technician: "Technician", manager: "Manager", admin: "Admin" };

/** A role in words: "Manager". */
export function formatRole(role: string | null | undefined): string {
  return role ? (ROLE_WORDS[role] ?? wordsOf(role)) : "–";
}
