// What the dashboard fetches once per filter change and hands to every widget.
import type { TemplateResult } from "lit";
import { api, type Query } from "../api";
import { catalog } from "../catalog";
import { empty, type EmptyAction } from "../components/states";
import { addDays, askedEnd, filterQuery, periodStartOf, previousPeriodStart, type Filters } from "../filters";
import { formatPeriod } from "../format";
import { session } from "../session";
import type { KpiDefinition, KpiValue, MetricTargets, Scorecards, Target, WidgetSpec } from "../types";

/** A result or the error that stopped it: one widget's failure never blanks the others. */
export type Loaded<T> = { ok: true; value: T } | { ok: false; error: unknown } | null;

export interface DashboardData {
  filters: Filters;
  kpis: Map<string, KpiDefinition>;
  targets: Map<string, Thresholds | null>;
  /** Company-wide values per period over the range, each with the period before it (``previous``). */
  company: Loaded<KpiValue[]>;
  /** Values per technician and period over the range (heatmaps, tables). */
  technicians: Loaded<KpiValue[]>;
  /** The scorecard of the range (leaderboards). */
  scorecards: Loaded<Scorecards>;
  /** First day of the last period in the range, and of the one before it. */
  latest: string;
  previous: string;
  /**
   * Whose values ``company`` holds, for the links to the jobs behind them: the company's on the
   * dashboard (the default), one technician's on their page.
   */
  group?: { by: "company" | "technician"; id?: string };
}

/** The thresholds a metric's values are judged against here: the team's when filtered to one, else the company's. */
export type Thresholds = Target;

function thresholds(targets: MetricTargets[], team: number | null): Map<string, Thresholds | null> {
  return new Map(
    targets.map((target) => [
      target.metric_key,
      (team && target.teams.find((own) => own.team_id === team)) || target.company || null,
    ]),
  );
}

/** The target of ``key``: what the targets list says, else the plugin's default (null: none). */
export function targetOf(data: DashboardData, key: string): Thresholds | null {
  if (data.targets.has(key)) return data.targets.get(key) ?? null;
  return data.kpis.get(key)?.default_target ?? null;
}

async function settle<T>(promise: Promise<T> | null): Promise<Loaded<T>> {
  if (!promise) return null;
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

export type Part = "company" | "technicians" | "scorecards";

/**
 * Start every request the widgets need. The reference data (KPI definitions, targets) comes first,
 * then ``arrived`` gets the data again each time a part settles, so the KPI cards do not wait
 * for the slowest request (the scorecards).
 */
export async function loadDashboardData(
  filters: Filters,
  widgets: WidgetSpec[],
  arrived: (data: DashboardData) => void,
): Promise<void> {
  const metrics = [...new Set(widgets.flatMap((widget) => widget.metrics))];
  const perTechnician = [
    ...new Set(
      widgets.filter((widget) => widget.type === "heatmap" || widget.type === "table").flatMap((w) => w.metrics),
    ),
  ];
  // The last period asked for: a period under way ends today (askedEnd), and says so (complete: false).
  const latest = periodStartOf(addDays(askedEnd(filters), -1), filters.period);
  const previous = previousPeriodStart(latest, filters.period);
  const query: Query = filterQuery(filters);
  const requests: [Part, Promise<unknown> | null][] = [
    [
      "company",
      metrics.length
        ? // compare=previous: each row carries the period before it, and a period under way is
          // compared with the same elapsed days of the one before, never with a whole period.
          api.get<KpiValue[]>("/api/v1/kpis/values", { ...query, kpi: metrics, group_by: "company", compare: "previous" })
        : null,
    ],
    [
      "technicians",
      perTechnician.length
        ? api.get<KpiValue[]>("/api/v1/kpis/values", { ...query, kpi: perTechnician, group_by: "technician" })
        : null,
    ],
    [
      "scorecards",
      widgets.some((widget) => widget.type === "leaderboard")
        ? api.get<Scorecards>("/api/v1/scorecards", {
            ...query,
            // Fair by job mix, as observed, or (not asked) as the admins' setting says.
            adjust: filters.fair === null ? undefined : filters.fair ? "category" : "none",
          })
        : null,
    ],
  ];
  const [kpis, targets] = await Promise.all([
    catalog.kpiMap(),
    catalog.targets().catch(() => [] as MetricTargets[]),
  ]);
  let data: DashboardData = {
    filters,
    kpis,
    targets: thresholds(targets, filters.team),
    company: null,
    technicians: null,
    scorecards: null,
    latest,
    previous,
  };
  arrived(data); // the widgets show their loading states until their part arrives
  await Promise.all(
    requests
      .filter(([, request]) => request !== null)
      .map(([part, request]) =>
        settle(request).then((loaded) => {
          data = { ...data, [part]: loaded };
          arrived(data);
        }),
      ),
  );
}

/** A link to the jobs (or evaluations) behind one value. */
export function drilldownHref(
  kpi: string,
  filters: Filters,
  periodStart: string,
  group: { by: "company" | "technician" | "team" | "category"; id?: string },
): string {
  const params = new URLSearchParams({ kpi, group_by: group.by, period: filters.period, period_start: periodStart });
  if (group.id) params.set("group_id", group.id);
  params.set("start", filters.start);
  params.set("end", askedEnd(filters)); // the same days as the value it opens
  if (filters.team) params.set("team", String(filters.team));
  if (filters.technician) params.set("technician", String(filters.technician));
  if (filters.category) params.set("category", filters.category);
  return `/jobs/behind?${params}`;
}

/**
 * What a widget shows when ``keys`` have no value ``in`` the last period or the whole range: why,
 * and what to do about it. A metric's own ``empty_hint`` (declared by its plugin) comes first; else
 * the words depend on where its numbers come from (jobs or evaluations) and who is reading.
 */
export function emptyFor(data: DashboardData, keys: string[], scope: "latest" | "range"): TemplateResult {
  const { filters } = data;
  const when =
    scope === "latest"
      ? `in ${formatPeriod(data.latest, filters.period)}`
      : `from ${formatPeriod(periodStartOf(filters.start, filters.period), filters.period)} to ${formatPeriod(data.latest, filters.period)}`;
  const kpis = keys.map((key) => data.kpis.get(key));
  const hint = kpis.map((kpi) => kpi?.empty_hint).find((text) => !!text);
  // On a technician's own page the technician is whose numbers these are, not a filter.
  const filtered = !!(filters.category || filters.team || (filters.technician && data.group?.by !== "technician"));
  const longer = scope === "latest" ? "Choose an earlier or a longer period" : "Choose a longer period";
  if (hint) return empty(`No value ${when}.`, hint);
  const evaluations = kpis.length > 0 && kpis.every((kpi) => kpi?.source === "evaluations");
  const manages = session.can("admin", "manager");
  if (evaluations) {
    const action: EmptyAction | undefined = manages ? { href: "/evaluations/new", label: "Evaluate a technician" } : undefined;
    return empty(`No evaluations ${when} yet.`, "Evaluations count here once a manager submits them.", action);
  }
  if (filtered) return empty(`No jobs match these filters ${when}.`, `${longer}, or clear a filter.`);
  const action: EmptyAction | undefined = manages ? { href: "/jobs", label: "Import jobs" } : undefined;
  return empty(`No jobs counted ${when}.`, manages ? `${longer}, or import jobs.` : `${longer}.`, action);
}
