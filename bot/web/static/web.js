// journeywatch pages: the little that HTML alone does not do.
// Span details open and close on their own (<details>); this adds "expand all",
// and opens the span a link points at (#span-<id>, from the logs or a shared address).
"use strict";

function openSpanFromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!id.startsWith("span-")) return;
  const target = document.getElementById(id);
  if (target && target.tagName === "DETAILS") {
    target.open = true;
    target.classList.add("targeted");
    target.scrollIntoView({ block: "center" });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-expand]")) {
    button.addEventListener("click", () => {
      const open = button.dataset.expand === "open";
      for (const row of document.querySelectorAll("details.span-row")) row.open = open;
    });
  }
  for (const row of document.querySelectorAll("details.span-row")) {
    row.addEventListener("toggle", () => { if (!row.open) row.classList.remove("targeted"); });
  }
  window.addEventListener("hashchange", openSpanFromHash);
  openSpanFromHash();
});
