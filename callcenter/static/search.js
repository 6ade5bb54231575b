// Patient search from any desk page: "/" (or the Find button) opens it; by name, number or birth
// date. On the schedule a result is picked for booking; elsewhere it opens the schedule for them.
(() => {
  "use strict";
  const box = document.getElementById("patient-search");
  if (!box) return;
  const input = box.querySelector("input");
  const list = box.querySelector("ol");
  let pending = null;
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const onSchedule = () => document.getElementById("schedule") !== null;

  function open() { box.hidden = false; input.focus(); input.select(); }
  function close() { box.hidden = true; }

  async function find() {
    const query = input.value.trim();
    const response = await fetch(`/api/desk/patients/search?q=${encodeURIComponent(query)}`, {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (!response.ok || input.value.trim() !== query) return;
    const data = await response.json();
    list.innerHTML = data.patients.length ? data.patients.map((p) => `<li><button type="button" class="found" data-id="${p.id}" data-name="${esc(p.name)}">${esc(p.name)}</button> <span class="muted">${esc(p.birth_date || "")} ${esc(p.phones.join(", "))}</span> <a href="/desk/patients/${p.id}">${esc(box.dataset.card)}</a></li>`).join("") : `<li class="none">${esc(box.dataset.none)}</li>`;
  }

  function pick(button) {
    close();
    if (onSchedule()) document.dispatchEvent(new CustomEvent("patient-picked", {detail: {id: Number(button.dataset.id), name: button.dataset.name}}));
    else window.location.assign(`/desk/schedule?patient_id=${button.dataset.id}`);
  }

  input.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(find, 250); });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { ev.preventDefault(); ev.stopPropagation(); close(); }
    if (ev.key === "Enter") { ev.preventDefault(); const first = list.querySelector(".found"); if (first) pick(first); }
  });
  list.addEventListener("click", (ev) => { const button = ev.target.closest(".found"); if (button) pick(button); });
  document.getElementById("find-patient").addEventListener("click", open);
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "/" && !ev.target.matches("input, textarea, select") && !ev.ctrlKey && !ev.metaKey && !ev.altKey) { ev.preventDefault(); open(); }
  });
})();
