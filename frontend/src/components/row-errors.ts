// The problems of an import, row by row, as one table wherever an import can fail (the import
// form, the column mapping's preview): its row, the file's column and what is wrong.
import { html, type TemplateResult } from "lit";
import type { RowError } from "../api";

/** A row's problem as an import answers it, or a preview does (whose column may be left out). */
type Problem = Omit<RowError, "column"> & { column?: string | null };

export function rowErrorsTable(rows: readonly Problem[]): TemplateResult {
  return html`<div class="table-wrap cards">
    <table class="row-errors">
      <caption class="visually-hidden">Problems by row</caption>
      <thead>
        <tr>
          <th scope="col" class="num">Row</th>
          <th scope="col">Column in the file</th>
          <th scope="col">Problem</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (row) => html`<tr>
            <td class="num" data-label="Row">${row.row}</td>
            <td data-label="Column">${row.column ? html`<code>${row.column}</code>` : "–"}</td>
            <td data-label="Problem">${row.message}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}
