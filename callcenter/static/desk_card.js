// The call card's safety net, used by desk.js: drafts kept on the server while typing (not in
// the browser's storage: a shared desk computer must not keep patient notes after sign-out or the
// lock), the close that asks an answered call for its outcome, the call timer, the recording
// player, and today's calls still without an outcome.
window.DeskCard = (() => {
  "use strict";
  const SAVE_AFTER_MS = 600;
  const pending = new Map(); // call id -> timer of a draft not yet sent

  function values(el) {
    const form = el && el.querySelector("[data-form=wrap-up]");
    if (!form) return null;
    return {outcome: form.outcome.value || null, heard_from: form.heard_from.value || null, notes: form.notes.value};
  }

  // keepalive: a draft sent as the page reloads or closes still arrives.
  function send(kit, callId, body, form) {
    return fetch(`/api/desk/calls/${callId}/draft`, {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: {"Content-Type": "application/json", "X-CSRF-Token": kit.csrf, "Accept": "application/json"},
      body: JSON.stringify(body),
    }).then((response) => {
      if (response.ok && form && form.isConnected) {
        const note = form.querySelector(".draft-note");
        if (note) note.textContent = kit.T.draft_kept;
      }
    }).catch(() => { /* the next keystroke tries again */ });
  }

  function schedule(kit, callId, el) {
    clearTimeout(pending.get(callId));
    const form = el.querySelector("[data-form=wrap-up]");
    const note = form && form.querySelector(".draft-note");
    if (note) note.textContent = "";
    pending.set(callId, setTimeout(() => flush(kit, callId, el), SAVE_AFTER_MS));
  }

  // Send now what is waiting (read at once: the card may leave the page right after).
  function flush(kit, callId, el) {
    if (!pending.has(callId)) return Promise.resolve();
    clearTimeout(pending.get(callId));
    pending.delete(callId);
    const body = values(el);
    return body ? send(kit, callId, body, el.querySelector("[data-form=wrap-up]")) : Promise.resolve();
  }

  function saved(callId) { clearTimeout(pending.get(callId)); pending.delete(callId); }

  function restore(el, draft) {
    const form = el.querySelector("[data-form=wrap-up]");
    if (!draft || !form) return;
    if (draft.outcome) form.outcome.value = draft.outcome;
    if (draft.heard_from) form.heard_from.value = draft.heard_from;
    if (draft.notes) form.notes.value = draft.notes;
  }

  // An answered call is closed only with its outcome, or explicitly "later" (kept as a draft).
  function mustAsk(entry) {
    return ["answered", "completed"].includes(entry.status) && !entry.card.call.outcome && entry.card.call.direction !== "internal";
  }

  function ask(entry) {
    const prompt = entry.el.querySelector(".close-prompt");
    prompt.hidden = false;
    entry.el.querySelector("[data-form=wrap-up] select[name=outcome]").focus();
  }

  function promptHtml(kit) {
    const {esc, T} = kit;
    return `<div class="close-prompt" role="alertdialog" aria-label="${esc(T.outcome)}" hidden>
        <p>${esc(T.ask_outcome)}</p>
        <button type="button" data-act="save-close" class="ok">${esc(T.save_close)}</button>
        <button type="button" data-act="close-later">${esc(T.later)}</button>
      </div>`;
  }

  // ---- timer ----
  function timerHtml(call) {
    const since = call.answered_at || call.started_at;
    return `<span class="timer" data-timer data-since="${since}" data-until="${call.ended_at || ""}" aria-label="timer">0:00</span>`;
  }

  function statusChanged(el, status) {
    const timer = el.querySelector("[data-timer]");
    if (!timer) return;
    const now = new Date().toISOString();
    if (status === "answered" && !timer.dataset.answered) { timer.dataset.since = now; timer.dataset.answered = "yes"; }
    if (["completed", "missed", "failed"].includes(status) && !timer.dataset.until) timer.dataset.until = now;
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
  }

  function tick() {
    for (const timer of document.querySelectorAll("[data-timer]")) {
      const end = timer.dataset.until ? Date.parse(timer.dataset.until) : Date.now();
      timer.textContent = clock((end - Date.parse(timer.dataset.since)) / 1000);
    }
  }
  setInterval(tick, 1000);

  // ---- recordings: streamed through the service (which fetches them from the provider) ----
  function player(callId, label) {
    return `<audio class="recording" controls preload="none" src="/desk/calls/${callId}/recording" aria-label="${label}"></audio>`;
  }

  // ---- today's calls without an outcome ----
  function fillWithoutOutcome(kit, rows, open) {
    const {esc, T, when} = kit;
    const list = document.querySelector("#list-without-outcome ol");
    if (!list) return;
    if (!rows.length) { list.innerHTML = `<li class="none">${esc(T.empty)}</li>`; return; }
    list.innerHTML = rows.map((r) => `<li><button type="button" class="open-call" data-open="${r.call_id}">
        <span class="who">${esc(r.name || r.number)}</span> <span class="muted">${esc(when(r.started_at))}${r.draft ? " · " + esc(T.has_draft) : ""}</span></button></li>`).join("");
    list.onclick = (ev) => {
      const button = ev.target.closest("[data-open]");
      if (button) open(Number(button.dataset.open));
    };
  }

  return {schedule, flush, saved, restore, mustAsk, ask, promptHtml, timerHtml, statusChanged, player, fillWithoutOutcome, tick};
})();
