// A long list of rows of one fixed height of which only those in view (and a few either side)
// are in the DOM: a scroll box, a body as tall as every row, the visible rows placed in it.
// Drawing waits for the next animation frame, so many changes in a frame cost one draw.

import { el } from "../dom.js";

export class VirtualRows {
  // renderRow(row, index) → an element; rowHeight in CSS pixels
  constructor({ rowHeight, renderRow, overscan = 6, id = undefined, label = "" }) {
    this.rowHeight = rowHeight;
    this.renderRow = renderRow;
    this.overscan = overscan;
    this.rows = [];
    this.frame = 0;
    this.body = el("div", { className: "virtual-body", role: "rowgroup" });
    this.scroller = el("div", { className: "virtual-scroll", id, tabindex: "0", "aria-label": label,
      onscroll: () => this.schedule() }, this.body);
  }

  // New rows; drawn by the caller's draw() or the next schedule().
  setRows(rows) { this.rows = rows; }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  // The indexes [first, end) to draw for the scroll box's position and height.
  window() {
    const h = this.rowHeight;
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 20 * h;
    const first = Math.max(0, Math.floor(top / h) - this.overscan);
    const end = Math.min(this.rows.length, Math.ceil((top + height) / h) + this.overscan);
    return [first, end];
  }

  draw() {
    this.body.style.height = `${this.rows.length * this.rowHeight}px`;
    const [first, end] = this.window();
    const nodes = [];
    for (let i = first; i < end; i++) {
      const node = this.renderRow(this.rows[i], i);
      node.style.transform = `translateY(${i * this.rowHeight}px)`;
      nodes.push(node);
    }
    this.body.replaceChildren(...nodes);
  }

  destroy() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
  }
}
