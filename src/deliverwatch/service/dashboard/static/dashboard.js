// deliverwatch dashboard: table sorting and the overview filter. No dependencies.
"use strict";

function sortTable(table, th) {
  const index = Array.from(th.parentNode.children).indexOf(th);
  const numeric = th.dataset.type === "number";
  const ascending = th.getAttribute("aria-sort") !== "ascending";
  th.parentNode.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = (row) => {
    const cell = row.cells[index];
    const raw = cell ? (cell.dataset.value ?? cell.textContent.trim()) : "";
    return numeric ? parseFloat(raw) || 0 : raw.toLowerCase();
  };
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return ascending ? order : -order;
  });
  rows.forEach((row) => body.appendChild(row));
}

function applyFilter() {
  const text = (document.getElementById("filter")?.value || "").trim().toLowerCase();
  const status = document.getElementById("status-filter")?.value || "";
  const table = document.getElementById("domains");
  if (!table) return;
  let shown = 0;
  Array.from(table.tBodies[0].rows).forEach((row) => {
    const match = (!text || row.dataset.domain.includes(text)) && (!status || row.dataset.status === status);
    row.hidden = !match;
    if (match) shown += 1;
  });
  const counter = document.getElementById("shown");
  if (counter) counter.textContent = `${shown} shown`;
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("thead th").forEach((th) => {
      th.tabIndex = 0; // sortable from the keyboard too
      th.addEventListener("click", () => sortTable(table, th));
      th.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortTable(table, th);
        }
      });
    });
  });
  const filter = document.getElementById("filter");
  const status = document.getElementById("status-filter");
  if (filter) filter.addEventListener("input", applyFilter);
  if (status) status.addEventListener("change", applyFilter);
  applyFilter();
});
