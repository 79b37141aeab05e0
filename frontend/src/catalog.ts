// Reference data many views need (KPI definitions, teams, technicians, targets), fetched once per session.
import { api } from "./api";
import type { Company, Dashboard, KpiDefinition, MetricTargets, Team, Technician } from "./types";

const cache = new Map<string, Promise<unknown>>();

function once<T>(key: string, load: () => Promise<T>): Promise<T> {
  if (!cache.has(key)) {
    const promise = load();
    cache.set(key, promise);
    promise.catch(() => cache.delete(key)); // an error is not remembered: the next view asks again
  }
  return cache.get(key) as Promise<T>;
}


export const catalog = {
  kpis: () => once("kpis", () => api.get<KpiDefinition[]>("/api/v1/kpis")),
  async kpiMap(): Promise<Map<string, KpiDefinition>> {
    return new Map((await catalog.kpis()).map((kpi) => [kpi.key, kpi]));
  },
  teams: () => once("teams", () => api.all<Team>("/api/v1/teams", { sort: "name" })),
  technicians: () => once("technicians", () => api.all<Technician>("/api/v1/technicians", { sort: "name" })),
  targets: () => once("targets", () => api.get<MetricTargets[]>("/api/v1/targets")),
  /** The company's currency and time zone (format.ts writes money and times with them). */
  company: () => once("company", async (): Promise<Company> => (await api.get<Dashboard>("/api/v1/dashboard")).company),
  forget(key?: string): void {
    if (key) cache.delete(key);
    else cache.clear();
  },
};
