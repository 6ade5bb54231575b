// The desk's visits: arrived / completed (+ what was done) / did not come, by button or key.
"use strict";
const texts = document.getElementById("visit-texts").dataset;
const dialog = document.getElementById("treatment-dialog");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
let pending = null; // the row whose treatment is being chosen

async function post(url, body) {
  const reply = await fetch(url, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(body || {})});
  return {ok: reply.ok, body: await reply.json().catch(() => ({}))};
}

function show(row, ok, text, status) {
  const result = row.querySelector(".result");
  result.classList.toggle("error", !ok);
  result.textContent = text;
  if (ok && status) {
    row.dataset.status = status;
    row.querySelector(".status").textContent = texts[{no_show: "noShow"}[status] || status] || status;
  }
}

async function act(row, action) {
  if (action === "completed") {
    pending = row;
    dialog.querySelectorAll("input").forEach((box) => { box.checked = false; });
    document.getElementById("treatment-error").textContent = "";
    dialog.showModal();
    dialog.querySelector("input").focus();
    return;
  }
  const {ok, body} = await post(`/api/desk/visits/${row.dataset.visit}/${action}`);
  show(row, ok, ok ? (action === "no-show" ? texts.callBack : "") : body.message, body.status);
}

document.getElementById("treatment-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const chosen = [...dialog.querySelectorAll("input:checked")].map((box) => box.value);
  const {ok, body} = await post(`/api/desk/visits/${pending.dataset.visit}/completed`, {treatments: chosen});
  if (!ok) { document.getElementById("treatment-error").textContent = body.message; return; }
  dialog.close();
  const dates = Object.values(body.follow_ups).flat().sort();
  show(pending, true, `${texts.followUps}: ${dates.join(", ")}`, body.status);
  pending.focus();
});
document.getElementById("treatment-cancel").addEventListener("click", () => { dialog.close(); pending.focus(); });

document.addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-action]");
  if (!button) return;
  if (button.dataset.action === "seen") {
    const row = button.closest("tr");
    const {ok} = await post(`/api/desk/notices/${row.dataset.notice}/seen`);
    if (ok) row.remove();
    return;
  }
  act(button.closest("tr"), button.dataset.action);
});

const KEYS = {a: "arrived", c: "completed", n: "no-show"};
document.addEventListener("keydown", (ev) => {
  if (dialog.open || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const rows = [...document.querySelectorAll("tr[data-visit]")];
  const row = document.activeElement.closest && document.activeElement.closest("tr[data-visit]");
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    const at = rows.indexOf(row);
    const next = rows[ev.key === "ArrowDown" ? Math.min(at + 1, rows.length - 1) : Math.max(at - 1, 0)];
    if (next) { next.focus(); ev.preventDefault(); }
    return;
  }
  const action = KEYS[ev.key.toLowerCase()];
  if (action && row) { ev.preventDefault(); act(row, action); }
});
