// Tables on a phone. A component adds `new TableBoxes(this)`; after each render it looks after
// every `.table-wrap` box in the component:
//  - a box whose table is wider than the box scrolls inside it: it then becomes a focusable,
//    named region (so keyboard users can scroll it and screen readers announce it), and stops
//    being one when it fits again;
//  - `.table-wrap.newest-last` (periods as columns, oldest first) starts scrolled to its end,
//    so the newest period is what a phone shows first;
//  - `.table-wrap.cards` gets each cell's column name in `data-label`, which styles.ts shows
//    above the value when the box is narrow and the rows turn into cards.
import type { ReactiveController, ReactiveControllerHost } from "lit";

type Host = ReactiveControllerHost & HTMLElement & { renderRoot: HTMLElement | DocumentFragment };

export class TableBoxes implements ReactiveController {
  private readonly host: Host;
  private readonly observer: ResizeObserver;
  /** Where each .newest-last box was scrolled to by this code. */
  private readonly scrolled = new WeakMap<Element, number>();

  constructor(host: Host) {
    this.host = host;
    this.observer = new ResizeObserver((entries) => entries.forEach((entry) => this.fit(entry.target as HTMLElement)));
    host.addController(this);
  }

  hostUpdated(): void {
    // Nested components render later than their host: wait a frame so the widths are final.
    requestAnimationFrame(() => this.boxes().forEach((box) => this.track(box)));
  }

  hostDisconnected(): void {
    this.observer.disconnect();
  }

  private boxes(): HTMLElement[] {
    return [...this.host.renderRoot.querySelectorAll<HTMLElement>(".table-wrap")];
  }

  private track(box: HTMLElement): void {
    this.observer.observe(box);
    const table = box.querySelector("table");
    if (table) this.observer.observe(table);
    if (box.classList.contains("cards")) labelCells(box);
    this.fit(box);
  }

  private fit(element: HTMLElement): void {
    const box = element.classList.contains("table-wrap") ? element : element.closest<HTMLElement>(".table-wrap");
    if (!box) return;
    const scrolls = box.scrollWidth > box.clientWidth + 1;
    if (scrolls) {
      box.setAttribute("role", "region");
      box.tabIndex = 0;
      if (!box.hasAttribute("aria-labelledby")) box.setAttribute("aria-label", nameOf(box));
      // Until the reader scrolls it, the box follows its table (which may grow as data arrives).
      const untouched = !this.scrolled.has(box) || this.scrolled.get(box) === box.scrollLeft;
      if (box.classList.contains("newest-last") && untouched) this.scrolled.set(box, scrollToNewest(box));
    } else if (box.getAttribute("role") === "region") {
      box.removeAttribute("role");
      box.removeAttribute("tabindex");
      box.removeAttribute("aria-label");
    }
  }
}

/**
 * Scroll to the last column. With a sticky first column, the end is moved to a column's edge
 * (a little space after the last column), so that no column rests half hidden under the first.
 */
function scrollToNewest(box: HTMLElement): number {
  box.style.paddingRight = "";
  const end = box.scrollWidth - box.clientWidth;
  const row = box.querySelector<HTMLTableRowElement>("tbody tr");
  let edge = end;
  if (box.classList.contains("sticky") && row && row.cells.length > 1) {
    const origin = box.getBoundingClientRect().left + box.clientLeft - box.scrollLeft;
    const sticky = row.cells[0].getBoundingClientRect().width;
    const edges = [...row.cells].slice(1).map((cell) => cell.getBoundingClientRect().left - origin - sticky);
    edge = edges.find((at) => at >= end - 0.5) ?? end;
    if (edge > end) box.style.paddingRight = `${edge - end}px`;
  }
  box.scrollLeft = edge;
  return box.scrollLeft;
}

/** What a scrolling table is called: its caption, else the heading of its section, else "Table". */
function nameOf(box: HTMLElement): string {
  const caption = box.querySelector("caption")?.textContent?.trim();
  if (caption) return caption;
  const section = box.closest("section, .card, details");
  const heading = section?.querySelector("h1, h2, h3, summary")?.textContent?.trim();
  return heading ? `${heading} (table)` : "Table";
}

/** Write each cell's column name (from the last header row, colspans counted) into data-label. */
function labelCells(box: HTMLElement): void {
  const table = box.querySelector("table");
  const header = table?.tHead?.rows[table.tHead.rows.length - 1];
  if (!table || !header) return;
  const names: string[] = [];
  for (const cell of header.cells) {
    for (let span = 0; span < cell.colSpan; span++) names.push(cell.textContent?.trim() ?? "");
  }
  for (const body of [...table.tBodies, ...(table.tFoot ? [table.tFoot] : [])]) {
    for (const row of body.rows) {
      let column = 0;
      for (const cell of row.cells) {
        const name = names[column];
        if (cell.tagName === "TD" && name && cell.colSpan === 1) cell.dataset.label = name;
        column += cell.colSpan;
      }
    }
  }
}
