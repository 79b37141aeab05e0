// The shapes the dashboard reads, named from the generated API types (api-schema.ts, made by
// scripts/gen-api-types from /api/openapi.json): a change to the API's schemas fails the type
// check here instead of confusing a user. Never write an API shape by hand in this file.
import type { components } from "./api-schema";

type Schemas = components["schemas"];

export type Me = Schemas["User"];
export type Role = Me["role"];
export type Team = Schemas["Team"];
export type Technician = Schemas["Technician"];
export type Target = Schemas["Target"];
export type KpiDefinition = Schemas["KpiDefinition"];
export type KpiValue = Schemas["KpiValue"];
export type WidgetSpec = Schemas["WidgetSpec"];
export type WidgetType = WidgetSpec["type"];
export type WidgetSize = WidgetSpec["size"];
export type LayoutItem = Schemas["LayoutItem"];
export type Dashboard = Schemas["Dashboard"];
export type Company = Schemas["Company"];
export type Standing = Schemas["Standing"];
export type Peers = Schemas["Peers"];
export type Contribution = Schemas["Contribution"];
export type ScorecardRow = Schemas["TechnicianScore"];
export type Scorecards = Schemas["Scorecards"];
export type FormField = Schemas["DeclaredField"];
export type Evaluation = Schemas["Evaluation"];
export type Job = Schemas["Job"];
export type DrilldownRow = Schemas["DrilldownRow"];
export type DrilldownSummary = Schemas["DrilldownSummary"];
export type User = Schemas["User"];
export type TokenPair = Schemas["TokenPair"];
export type EvaluationForm = Schemas["Form"];
export type ImportResult = Schemas["ImportResult"];
export type ImportColumn = Schemas["ImportColumn"];
export type ImportFileDescription = Schemas["ImportFileDescription"];
export type ImportPreview = Schemas["ImportPreview"];
export type ImportPreset = Schemas["ImportPreset"];
export type ImportMapping = Schemas["ImportMapping"];
export type ImportFieldRule = Schemas["ImportFieldRule"];
export type SavedImportMapping = Schemas["SavedImportMapping"];
export type MetricTargets = Schemas["MetricTargets"];
export type EffectiveTarget = Schemas["EffectiveTarget"];
export type PluginList = Schemas["PluginList"];
export type PluginProblem = Schemas["PluginProblem"];
export type PluginSetting = Schemas["PluginSetting"];
export type BackgroundJob = Schemas["BackgroundJob"];
export type JobRun = Schemas["JobRun"];
export type Report = Schemas["Report"];
export type ReportFormat = Schemas["ReportFormat"];
export type Schedule = Schemas["Schedule"];
export type IntegrationToken = Schemas["IntegrationToken"];
export type IssuedIntegrationToken = Schemas["IssuedIntegrationToken"];
export type IntegrationTokenScopes = Schemas["IntegrationTokenScopes"];
export type IntegrationTokenPermission = Schemas["IntegrationTokenPermission"];
/** The X-Pagination header of a listing (a header, so read with JSON.parse, not as a body). */
export type Pagination = Schemas["PaginationMetadata"];
