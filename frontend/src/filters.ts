// The dashboard's filters, kept in the URL so a view can be shared and reloaded.
import type { Query } from "./api";
import { localDay } from "./format";

export const PERIODS = ["week", "month", "quarter", "year"] as const;
export type Period = (typeof PERIODS)[number] | "day";

export interface Filters {
  period: Period;
  /** First day, inclusive (YYYY-MM-DD, company time zone). */
  start: string;
  /** Day after the last, exclusive (as the API takes it). */
  end: string;
  team: number | null;
  technician: number | null;
  category: string | null;
  /** Leaderboards fair by job mix (true), as observed (false), or as the admins' setting says (null). */
  fair: boolean | null;
}

export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function utc(day: string): Date {
  return new Date(`${day}T00:00:00Z`);
}

export function addDays(day: string, days: number): string {
  const date = utc(day);
  date.setUTCDate(date.getUTCDate() + days);
  return isoDay(date);
}

export function addMonths(day: string, months: number): string {
  const date = utc(day);
  date.setUTCMonth(date.getUTCMonth() + months);
  return isoDay(date);
}

/** Today in the company's time zone (YYYY-MM-DD): the day relative ranges are counted from. */
export function companyToday(now = new Date()): string {
  return localDay(now);
}

/** The first of the month ``day`` falls in. */
function monthOf(day: string): string {
  return `${day.slice(0, 7)}-01`;
}

/**
 * The last six whole months: the month under way is not among them, so the last period shown
 * (the KPI cards' value) is a complete one. "This month so far" is one click away (RANGES).
 */
export function defaultFilters(today = companyToday()): Filters {
  const thisMonth = monthOf(today);
  return {
    period: "month",
    start: addMonths(thisMonth, -6),
    end: thisMonth,
    team: null,
    technician: null,
    category: null,
    fair: null,
  };
}

/**
 * The end (exclusive) that the API is asked for: never after today, so a period under way is cut
 * at today and compared with the same elapsed days of the one before (1-6 December against 1-6
 * November), never with a whole one.
 */
export function askedEnd(filters: Filters, today = companyToday()): string {
  const tomorrow = addDays(today, 1);
  return filters.end > tomorrow && filters.start < tomorrow ? tomorrow : filters.end;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function positive(value: string | null): number | null {
  const number = Number(value);
  return value && Number.isInteger(number) && number > 0 ? number : null;
}

export function readFilters(params: URLSearchParams): Filters {
  const defaults = defaultFilters();
  const period = params.get("period");
  const start = params.get("start");
  const end = params.get("end");
  return {
    period: (PERIODS as readonly string[]).includes(period ?? "") ? (period as Period) : defaults.period,
    start: start && DAY.test(start) ? start : defaults.start,
    end: end && DAY.test(end) ? end : defaults.end,
    team: positive(params.get("team")),
    technician: positive(params.get("technician")),
    category: params.get("category") || null,
    fair: params.get("fair") === "1" ? true : params.get("fair") === "0" ? false : null,
  };
}

export function filtersToParams(filters: Filters): URLSearchParams {
  const params = new URLSearchParams();
  params.set("period", filters.period);
  params.set("start", filters.start);
  params.set("end", filters.end);
  if (filters.team) params.set("team", String(filters.team));
  if (filters.technician) params.set("technician", String(filters.technician));
  if (filters.category) params.set("category", filters.category);
  if (filters.fair !== null && filters.fair !== undefined) params.set("fair", filters.fair ? "1" : "0");
  return params;
}

/** The filters as KPI API query parameters (team, technician and category narrow every value). */
export function filterQuery(filters: Filters): Query {
  return {
    period: filters.period,
    start: filters.start,
    end: askedEnd(filters),
    team: filters.team ?? undefined,
    technician: filters.technician ?? undefined,
    category: filters.category ?? undefined,
  };
}

/** The first day of the period before the one that starts on ``day``. */
export function previousPeriodStart(day: string, period: Period): string {
  switch (period) {
    case "day":
      return addDays(day, -1);
    case "week":
      return addDays(day, -7);
    case "quarter":
      return addMonths(day, -3);
    case "year":
      return addMonths(day, -12);
    default:
      return addMonths(day, -1);
  }
}

/** Align a day to the start of its period (weeks start on Monday, as the API's ISO weeks do). */
export function periodStartOf(day: string, period: Period): string {
  const date = utc(day);
  if (period === "week") return addDays(day, -((date.getUTCDay() + 6) % 7));
  if (period === "month") return `${day.slice(0, 7)}-01`;
  if (period === "quarter") return isoDay(new Date(Date.UTC(date.getUTCFullYear(), Math.floor(date.getUTCMonth() / 3) * 3, 1)));
  if (period === "year") return `${day.slice(0, 4)}-01-01`;
  return day;
}

/**
 * Ranges a person picks in words, counted in months. Whole months end with the last complete one;
 * the ranges that include the month under way say "so far" and end today.
 */
export const RANGES = [
  ["last_month", "Last month"],
  ["this_month", "This month so far"],
  ["last_3_months", "Last 3 months"],
  ["last_6_months", "Last 6 months"],
  ["this_year", "This year so far"],
  ["last_12_months", "Last 12 months"],
] as const;
export type Range = (typeof RANGES)[number][0];

/** The filters' period, start and end for a range in words (``today`` in the company's calendar). */
export function rangeFilters(range: Range, today = companyToday()): Pick<Filters, "period" | "start" | "end"> {
  const thisMonth = monthOf(today);
  const tomorrow = addDays(today, 1);
  switch (range) {
    case "last_month":
      return { period: "month", start: addMonths(thisMonth, -1), end: thisMonth };
    case "this_month":
      return { period: "month", start: thisMonth, end: tomorrow };
    case "last_3_months":
      return { period: "month", start: addMonths(thisMonth, -3), end: thisMonth };
    case "this_year":
      return { period: "month", start: `${thisMonth.slice(0, 4)}-01-01`, end: tomorrow };
    case "last_12_months":
      return { period: "month", start: addMonths(thisMonth, -12), end: thisMonth };
    default:
      return { period: "month", start: addMonths(thisMonth, -6), end: thisMonth };
  }
}

/** The range in words that ``filters`` cover, or null for any other range. */
export function rangeOf(filters: Filters, today = companyToday()): Range | null {
  const found = RANGES.find(([range]) => {
    const wanted = rangeFilters(range, today);
    return wanted.start === filters.start && wanted.end === filters.end && wanted.period === filters.period;
  });
  return found ? found[0] : null;
}

/**
 * What the numbers of a user's unfiltered view cover, in words: a technician's are their own, a
 * manager's their teams', an admin's the whole company's. Never "whole company" for a technician.
 */
export function scopeName(role: string | undefined): string {
  if (role === "technician") return "your own numbers";
  if (role === "manager") return "your teams";
  return "whole company";
}
