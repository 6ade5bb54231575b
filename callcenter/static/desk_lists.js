// The desk's work lists, used by desk.js: missed calls to call back, visits to confirm, calls still
// without an outcome and the call-backs due. Refreshed shortly after any change (a burst of events
// makes one request) and once a minute; never while the desk is locked.
window.DeskLists = (kit, page) => {
  "use strict";
  const {api, esc, T, tx, when} = kit;
  let pending = null;

  function refresh() {
    if (page.isLocked()) return;
    clearTimeout(pending);
    pending = setTimeout(load, 300);
  }

  async function load() {
    if (page.isLocked()) return;
    let data;
    try { data = await api("GET", "/api/desk/lists"); } catch { return; }
    fill("list-missed", data.missed, (m) => `<span class="who">${esc(m.name || m.number)}</span> <span class="muted">${esc(m.name ? m.number : "")}${m.attempts > 1 ? ` · ${m.attempts} ${esc(T.times)}` : ""}</span> <span class="wait" data-minutes="${m.waited_minutes}">${esc(T.waited)} ${waitText(m.waited_minutes)}</span>`, (m) => ({number: m.number_e164}), T.call_back);
    fill("list-confirmations", data.confirmations, (c) => `<span class="who">${esc(c.name)}</span> <span class="muted">${esc(c.when)} · ${esc(c.doctor)}</span>
        <span class="row-actions"><button type="button" data-mark="confirmed" data-appt="${c.appointment_id}" class="ok">${esc(T.confirm)}</button><button type="button" data-mark="call" data-appt="${c.appointment_id}">${esc(T.mark_call)}</button></span>`, (c) => ({number: c.number_e164}), T.dial);
    DeskCard.fillWithoutOutcome(kit, data.without_outcome || [], page.openCall);
    fill("list-call-backs", data.call_backs, (b) => `<span class="who">${esc(b.name || b.number)}</span> <span class="muted">${esc(tx(`purpose.${b.purpose}`, b.purpose))}${b.at ? " · " + esc(when(b.at)) : ""}</span>`, (b) => ({number: b.number_e164, task_id: b.task_id}), T.dial);
  }

  // Two units at most: "3 h 5 min" on the day of the call, "4 d 2 h" once it waited longer.
  function waitText(minutes) {
    if (minutes < 60) return `${minutes} ${T.minutes}`;
    const h = Math.floor(minutes / 60);
    if (h < 24) return `${h} ${T.hours} ${minutes % 60} ${T.minutes}`;
    return `${Math.floor(h / 24)} ${T.days} ${h % 24} ${T.hours}`;
  }

  function fill(id, rows, line, dialBody, dialLabel) {
    const list = document.querySelector(`#${id} ol`);
    if (!rows.length) { list.innerHTML = `<li class="none">${esc(T.empty)}</li>`; return; }
    list.innerHTML = rows.map((r, i) => `<li data-row="${i}">${line(r)}${dialBody(r).number ? ` <button type="button" class="dial" data-dial="${i}">☎ ${esc(dialLabel)}</button>` : ""}</li>`).join("");
    list.onclick = async (ev) => {
      const dialBtn = ev.target.closest("[data-dial]");
      const markBtn = ev.target.closest("[data-mark]");
      try {
        if (dialBtn) { await page.dial(dialBody(rows[Number(dialBtn.dataset.dial)])); }
        if (markBtn) { await api("POST", `/api/desk/appointments/${markBtn.dataset.appt}/mark`, {mark: markBtn.dataset.mark}); load(); }
      } catch (err) { page.alertBar(err.message); }
    };
  }

  return {refresh, load};
};
