// Report schedules in words: "Weekly on Monday at 07:00" <-> the cron the API stores ("0 7 * * 1").
// Only the three shapes a person picks on the form are read back as words; any other cron (made
// through the API) is shown as it is, as "Custom: <cron>".

import { locale } from "./format";

export type Frequency = "daily" | "weekly" | "monthly";

export interface ScheduleWords {
  frequency: Frequency;
  /** 0 (Sunday) to 6 (Saturday), as cron numbers them; weekly only. */
  weekday: number;
  /** 1 to 28, so that every month has the day; monthly only. */
  monthday: number;
  /** "HH:MM", 24 hours, in the company's time zone. */
  time: string;
}

export const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
export const MONTHDAYS = Array.from({ length: 28 }, (_, index) => index + 1);

const NUMBER = "(\\d{1,2})";
const SHAPE = new RegExp(`^${NUMBER} ${NUMBER} (\\*|${NUMBER}) \\* (\\*|${NUMBER})$`);

function two(value: number): string {
  return String(value).padStart(2, "0");
}

/** The cron (minute hour day-of-month month day-of-week) that fires as the words say. */
export function cronFromWords(words: ScheduleWords): string {
  const [hour, minute] = words.time.split(":").map(Number);
  const base = `${minute || 0} ${hour || 0}`;
  if (words.frequency === "weekly") return `${base} * * ${words.weekday}`;
  if (words.frequency === "monthly") return `${base} ${words.monthday} * *`;
  return `${base} * * *`;
}

/** The words for a cron of one of the form's shapes, or null for any other cron. */
export function wordsFromCron(cron: string): ScheduleWords | null {
  const match = SHAPE.exec(cron.trim().replace(/\s+/g, " "));
  if (!match) return null;
  const [, minute, hour, monthField, monthday, weekdayField, weekday] = match;
  const [m, h] = [Number(minute), Number(hour)];
  if (m > 59 || h > 23) return null;
  const time = `${two(h)}:${two(m)}`;
  if (monthField === "*" && weekdayField === "*") return { frequency: "daily", weekday: 1, monthday: 1, time };
  if (monthField === "*" && Number(weekday) <= 7) {
    return { frequency: "weekly", weekday: Number(weekday) % 7, monthday: 1, time };
  }
  if (weekdayField === "*" && Number(monthday) >= 1 && Number(monthday) <= 28) {
    return { frequency: "monthly", weekday: 1, monthday: Number(monthday), time };
  }
  return null;
}

/** A day of the month in words: "1st", "22nd". */
export function ordinal(day: number): string {
  const suffix = day % 10 === 1 && day !== 11 ? "st" : day % 10 === 2 && day !== 12 ? "nd" : day % 10 === 3 && day !== 13 ? "rd" : "th";
  return `${day}${suffix}`;
}

/** A wall-clock time ("HH:MM") as the reader's locale writes it ("7:00 AM"), as the time field shows it. */
export function clock(time: string): string {
  const [hour, minute] = time.split(":").map(Number);
  const at = new Date(Date.UTC(2000, 0, 1, hour, minute));
  return new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", timeZone: "UTC" }).format(at);
}

/** "Every day at 7:00 AM", "Every Monday at 7:00 AM", "On the 1st of every month at 7:00 AM", or "Custom: <cron>". */
export function describeCron(cron: string): string {
  const words = wordsFromCron(cron);
  if (!words) return `Custom: ${cron}`;
  const at = clock(words.time);
  if (words.frequency === "weekly") return `Every ${WEEKDAYS[words.weekday]} at ${at}`;
  if (words.frequency === "monthly") return `On the ${ordinal(words.monthday)} of every month at ${at}`;
  return `Every day at ${at}`;
}
