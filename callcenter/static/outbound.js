// The receptionist's outbound list. Dial: the server checks the dial rules (a refusal offers
// "the patient asked us to call" with a reason); without click-to-call the softphone takes a
// tel: link. Outcome: shown at once with Undo, sent when the few seconds pass (or the page goes).
"use strict";
const UNDO_SECONDS = 5;
const texts = document.getElementById("outbound-texts").dataset;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const waiting = new Map(); // row -> {timer, send}

async function post(url, body, keepalive) {
  const reply = await fetch(url, {method: "POST", credentials: "same-origin", keepalive: !!keepalive,
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(body)});
  return {ok: reply.ok, status: reply.status, body: await reply.json().catch(() => ({}))};
}

async function dial(row, asked) {
  const note = row.querySelector(".dial-note");
  const body = {number: row.dataset.number, task_id: Number(row.dataset.task)};
  if (asked) body.asked_to_call = asked;
  const reply = await post("/api/desk/dial", body);
  if (reply.ok) { note.textContent = texts.dialing; row.querySelector(".override").hidden = true; return; }
  if (reply.status === 503 && reply.body.field === "click_to_call") { window.location.href = `tel:${row.dataset.number}`; return; }
  note.textContent = reply.body.message || String(reply.status);
  row.querySelector(".override").hidden = !(reply.status === 409 && reply.body.field === "number");
}

function record(row, button) {
  const outcomes = row.querySelectorAll("button.outcome");
  outcomes.forEach((b) => { b.hidden = true; });
  const undo = row.querySelector(".undo");
  undo.querySelector(".undo-text").textContent = `${texts.recorded}: ${button.textContent}`;
  undo.hidden = false;
  const send = async (keepalive) => {
    waiting.delete(row);
    const reply = await post(`/api/campaigns/tasks/${row.dataset.task}/outcome`, {outcome: button.dataset.outcome}, keepalive);
    if (reply.ok) { row.remove(); return; }
    undo.querySelector(".undo-text").textContent = reply.body.message || String(reply.status);
    outcomes.forEach((b) => { b.hidden = false; });
  };
  waiting.set(row, {timer: setTimeout(() => send(false), UNDO_SECONDS * 1000), send});
}

document.addEventListener("click", (ev) => {
  const row = ev.target.closest("tr[data-task]");
  if (!row) return;
  if (ev.target.closest("button.dial")) dial(row, "");
  else if (ev.target.closest("button.dial-anyway")) dial(row, row.querySelector("input.asked").value);
  else if (ev.target.closest("button.outcome")) record(row, ev.target.closest("button.outcome"));
  else if (ev.target.closest("button.undo-button")) {
    const pending = waiting.get(row);
    if (!pending) return;
    clearTimeout(pending.timer);
    waiting.delete(row);
    row.querySelector(".undo").hidden = true;
    row.querySelectorAll("button.outcome").forEach((b) => { b.hidden = false; });
  }
});
// Leaving the page sends what is waiting: an outcome is never lost to a closed tab.
window.addEventListener("pagehide", () => { [...waiting.values()].forEach((p) => { clearTimeout(p.timer); p.send(true); }); });

// The script, loaded when first opened: its steps, and the two slots to offer where the call books.
document.addEventListener("toggle", async (ev) => {
  const details = ev.target;
  if (!details.matches || !details.matches("details.script") || !details.open || details.dataset.loaded) return;
  details.dataset.loaded = "1";
  const row = details.closest("tr[data-task]");
  const reply = await fetch(`/api/campaigns/tasks/${row.dataset.task}/script`, {credentials: "same-origin"});
  const body = details.querySelector(".script-body");
  const script = await reply.json().catch(() => ({}));
  if (!reply.ok) { body.textContent = script.message || String(reply.status); return; }
  for (const section of script.sections) {
    const list = document.createElement("ul");
    list.className = `step ${section.kind}`;
    for (const item of section.items) {
      const line = document.createElement("li");
      line.textContent = item.answer ? `${item.text} — ${item.answer}` : item.text;
      list.append(line);
    }
    body.append(list);
  }
  if (script.slots.length) {
    const slots = document.createElement("ol");
    slots.className = "slots";
    for (const slot of script.slots) {
      const line = document.createElement("li");
      line.textContent = `${slot.label} · ${slot.doctor}`;
      slots.append(line);
    }
    body.append(slots);
  }
}, true);
