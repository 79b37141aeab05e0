// Shapes of the API answers the app reads (see /api/openapi.json for the full documents).

export type Role = "admin" | "manager" | "technician";

export interface Me {
  id: number;
  username: string;
  role: Role;
  display_name: string | null;
  technician_id: number | null;
  must_change_password: boolean;
}

export interface Team {
  id: number;
  name: string;
}

export interface Technician {
  id: number;
  external_ref: string;
  name: string;
  email: string | null;
  team_id: number | null;
  active: boolean;
}

export interface Target {
  green: number;
  amber: number;
  weight: number;
}

export interface KpiDefinition {
  key: string;
  label: string;
  description: string;
  formula: string;
  unit: string;
  direction: "higher" | "lower";
  kind: "rate" | "mean";
  source: "jobs" | "evaluations";
  plugin: string;
  default_target: Target | null;
  /** What to do where the KPI has no value, in words ("" when the generic text applies). */
  empty_hint?: string;
}

export interface KpiValue {
  kpi: string;
  group_id: string;
  group_label: string;
  period_start: string;
  value: number | null;
  numerator: number;
  denominator: number;
  ci_low: number | null;
  ci_high: number | null;
  status: "green" | "amber" | "red" | null;
}

export type WidgetType = "kpi_card" | "trend" | "leaderboard" | "heatmap" | "table" | "custom";
export type WidgetSize = "small" | "medium" | "large" | "full";

export interface WidgetSpec {
  key: string;
  title: string;
  type: WidgetType;
  metrics: string[];
  size: WidgetSize;
  module_url: string | null;
  element: string | null;
  options: Record<string, unknown>;
  plugin: string;
}

export interface LayoutItem {
  widget: string;
  size: WidgetSize;
}

export interface Dashboard {
  /** The company's currency (ISO 4217) and time zone (IANA): how money and times are shown. */
  company: { currency: string; timezone: string };
  widgets: WidgetSpec[];
  layout: LayoutItem[];
  customized: boolean;
}

/** A rank (null: not ranked) among ``of`` ranked technicians. */
export interface Standing {
  rank: number | null;
  of: number;
}

/** Where a technician stands in their team (null without one) and in the whole company. */
export interface Peers {
  team: Standing | null;
  company: Standing;
}

export interface Contribution {
  kpi: string;
  label?: string;
  value: number | null;
  status: string | null;
  weight: number;
  points: number | null;
  contribution?: number | null;
  sample?: number;
  /** Rank on this KPI among the technicians listed. */
  rank?: number | null;
  peers?: Peers;
  team_value?: number | null;
  target?: { green: number; amber: number } | null;
}

export interface ScorecardRow {
  technician_id: number;
  technician: string;
  team_id: number | null;
  team: string | null;
  score: number | null;
  previous_score: number | null;
  change: number | null;
  rank: number | null;
  peers?: Peers;
  sample: number;
  unranked_reason: string | null;
  contributions: Contribution[];
}

export interface Scorecards {
  start: string;
  end: string;
  period: string;
  previous_start: string;
  previous_end: string;
  min_sample: number;
  kpis: { key: string; label: string; weight: number }[];
  technicians: ScorecardRow[];
}

export interface FormField {
  key: string;
  label: string;
  type: "rating" | "yes_no" | "number" | "choice" | "text";
  required: boolean;
  weight: number;
  help_text?: string;
  choices?: string[];
  minimum?: number | null;
  maximum?: number | null;
  /** What the lowest and highest ends of a rating or number scale mean, lowest first. */
  scale_labels?: string[];
  plugin: string;
}

export interface Evaluation {
  id: number;
  technician_id: number;
  period_start: string;
  period_end: string;
  status: "draft" | "submitted" | "acknowledged";
  answers: Record<string, unknown>;
  score: number | null;
  revision: number;
  technician_comment: string | null;
  submitted_at: string | null;
  acknowledged_at: string | null;
  /** The form it was made on (GET of one evaluation only; listings leave it out). */
  form_snapshot?: Omit<FormField, "plugin">[];
}

export interface Job {
  id: number;
  external_ref: string;
  technician_id: number;
  category: string;
  status: string;
  scheduled_start: string | null;
  completed_at: string | null;
  estimated_minutes: number | null;
  revenue: string | null;
}

export interface DrilldownRow {
  id: number;
  external_ref: string | null;
  technician: string;
  category: string | null;
  status: string;
  scheduled_start: string | null;
  arrived_at: string | null;
  completed_at: string | null;
  rating: number | null;
  evaluation_period_start: string | null;
  evaluation_period_end: string | null;
  score: number | null;
  numerator: number;
  denominator: number;
}
