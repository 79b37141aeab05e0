// A job's crew in words: "Ann Lee (lead), Bo Chan" when the credit is split equally, and each
// member's share when it is not: "Ann Lee (lead, 60 %), Bo Chan (40 %)". A job of one technician
// is just their name.
import { html, type TemplateResult } from "lit";
import { formatShare } from "../format";
import type { CrewMember } from "../types";

/** Whether every member has the same share (to a tenth of a percent). */
export function equalShares(crew: readonly CrewMember[]): boolean {
  return crew.every((member) => Math.abs(member.share - 1 / crew.length) < 0.0005);
}

/** What a member's name is followed by: "(lead)", "(lead, 60 %)", "(40 %)" or nothing. */
function aside(member: CrewMember, crew: readonly CrewMember[]): string {
  if (crew.length === 1) return "";
  const parts = member.role === "lead" ? ["lead"] : [];
  if (!equalShares(crew)) parts.push(formatShare(member.share));
  return parts.length ? ` (${parts.join(", ")})` : "";
}

/** The crew as one line of text (for a CSV cell or a title). */
export function crewWords(crew: readonly CrewMember[]): string {
  return crew.map((member) => `${member.technician}${aside(member, crew)}`).join(", ");
}

/**
 * The crew as one line, each name a link to the technician's page when ``linked`` (the technicians
 * the reader may open) holds them; the others (another team's helper, a colleague) are plain text.
 * Put it straight in a table cell: a cell's link is a 44 px target.
 */
export function crewLine(crew: readonly CrewMember[], linked: ReadonlySet<number>): TemplateResult {
  return html`${crew.map(
    (member, index) =>
      html`${index ? ", " : ""}${linked.has(member.technician_id)
        ? html`<a href="/technicians/${member.technician_id}">${member.technician}</a>`
        : member.technician}${aside(member, crew)}`,
  )}`;
}

/** The crew in a sentence, for a job's page: "Ann Lee leads, with Bo Chan. The credit is split equally." */
export function crewSentence(crew: readonly CrewMember[]): string {
  const lead = crew.find((member) => member.role === "lead");
  const helpers = crew.filter((member) => member !== lead);
  if (!lead) return "";
  if (!helpers.length) return `${lead.technician} does this job alone.`;
  const names = helpers.map((member) => member.technician);
  const others = names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  const split = equalShares(crew)
    ? "The credit is split equally."
    : `The credit is split ${crew.map((member) => formatShare(member.share)).join(" / ")}.`;
  return `${lead.technician} leads, with ${others}. ${split}`;
}
