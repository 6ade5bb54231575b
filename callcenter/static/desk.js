// The receptionist's desk: live pops over SSE (resumed with Last-Event-ID), the card, the script,
// wrap-up, booking, work lists, click-to-call, keyboard shortcuts and the idle lock.
// Vanilla JS, no build step. Patient data lives only in the DOM of open cards and lists, and is
// removed (not hidden) when the desk locks.
(() => {
  "use strict";
  const cfg = JSON.parse(document.getElementById("desk-config").textContent);
  const T = cfg.texts;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const pops = document.getElementById("pops");
  const waiting = document.getElementById("waiting");
  const conn = document.getElementById("conn");
  const lockForm = document.getElementById("lock");
  const cards = new Map(); // call id -> {card, status, el, selected}
  let focused = null;
  let source = null;
  let lastId = cfg.startId;
  let locked = cfg.locked;
  let chord = null;
  let idleTimer = null;
  window.deskTimings = []; // [call id, event, ms from SSE message to drawn frame, epoch ms drawn]

  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const tx = (key, fallback) => T[key] ?? fallback ?? key;
  const timeFmt = new Intl.DateTimeFormat(cfg.locale, {timeZone: cfg.timezone, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"});
  const when = (iso) => (iso ? timeFmt.format(new Date(iso)) : "");
  const localInput = (iso) => {
    // datetime-local wants the clinic's wall clock; the offset is sent separately.
    const d = new Date(iso);
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {timeZone: cfg.timezone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23"}).formatToParts(d).map((p) => [p.type, p.value]));
    return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
  };
  const zoneOffset = (wall) => {
    // The clinic zone's UTC offset at that wall-clock time, as +HH:MM.
    const guess = new Date(wall + "Z");
    const shown = new Date(new Intl.DateTimeFormat("en-US", {timeZone: cfg.timezone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"}).format(guess));
    const minutes = Math.round((shown - new Date(guess.toISOString().slice(0, 19))) / 60000);
    const sign = minutes < 0 ? "-" : "+";
    const abs = Math.abs(minutes);
    return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  };
  const fromLocalInput = (value) => (value ? `${value}:00${zoneOffset(value)}` : null);
  // What desk_card.js and desk_patient_form.js need of this page.
  const kit = {api, esc, tx, T, cfg, when, csrf};

  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (response.status === 423) { lockDesk(false); }
    // The session ended (signed out elsewhere, password changed, idle, end of shift): sign in again.
    if (response.status === 401) { window.location.assign("/login?next=/desk"); }
    if (!response.ok) { throw Object.assign(new Error(data.message || response.statusText), {data, status: response.status}); }
    return data;
  }

  // ---- the live feed ----
  function connect() {
    if (source || locked) return;
    source = new EventSource(`/desk/stream?from=${encodeURIComponent(lastId)}`);
    source.onopen = () => { conn.dataset.state = "live"; conn.textContent = T.live; };
    source.onerror = () => {
      conn.dataset.state = "reconnecting"; conn.textContent = T.reconnecting;
      if (source && source.readyState === EventSource.CLOSED) {  // refused (e.g. signed out): retry by hand
        source = null;
        loadLists();  // learns why through api(): 423 shows the lock screen, 401 the sign-in page
        setTimeout(connect, 3000);
      }
    };
    const handle = (kind) => (msg) => {
      const arrived = performance.now();
      if (msg.lastEventId) lastId = msg.lastEventId;
      const data = JSON.parse(msg.data);
      if (kind === "pop") showCard(data.card, data.status);
      else if (kind === "update") updateCard(data);
      else if (kind === "close") closeCard(data.call_id);
      // When the browser draws the next frame with the card in it (bench/pop_latency reads this).
      requestAnimationFrame(() => window.deskTimings.push([data.call_id, kind, performance.now() - arrived, Date.now()]));
      if (kind !== "pop") refreshLists();
    };
    for (const kind of ["pop", "update", "close"]) source.addEventListener(kind, handle(kind));
  }

  function disconnect() {
    if (source) { source.close(); source = null; }
  }

  // ---- cards ----
  function showCard(card, status) {
    const id = card.call.id;
    const existing = cards.get(id);
    const entry = existing || {selected: null};
    // A price question the receptionist opened stays on the card when the card is redrawn.
    if (entry.priceScript) card.script = entry.priceScript;
    entry.card = card;
    entry.status = status || card.call.status;
    if (entry.selected === null || !card.patients.some((p) => p.id === entry.selected)) {
      entry.selected = card.call.patient_id || (card.patients.length === 1 ? card.patients[0].id : null);
    }
    if (existing && existing.el) {
      // Keep what the receptionist already typed.
      const draft = readDraft(existing.el);
      existing.el.replaceWith(renderCard(entry));
      writeDraft(entry.el, draft);
    } else {
      cards.set(id, entry);
      pops.prepend(renderCard(entry));
      DeskCard.restore(entry.el, card.draft);
    }
    if (focused === null || !cards.has(focused)) focusCard(id);
    syncWaiting();
  }

  function updateCard(data) {
    const entry = cards.get(data.call_id);
    if (!entry) return;
    entry.status = data.status;
    entry.card.call.status = data.status;
    const pill = entry.el.querySelector(".status");
    pill.dataset.status = data.status;
    pill.textContent = tx(`status.${data.status}`, data.status);
    entry.el.dataset.status = data.status;
    DeskCard.statusChanged(entry.el, data.status);
  }

  // Esc and the close button: what was typed is kept as a draft, and an answered call without an
  // outcome asks for it instead of closing (or closes on an explicit "later").
  function requestClose(callId, later) {
    const entry = cards.get(callId);
    if (!entry) return;
    if (!later && DeskCard.mustAsk(entry)) { DeskCard.ask(entry); return; }
    DeskCard.flush(kit, callId, entry.el).then(refreshLists);  // it may wait on a list now
    closeCard(callId);
  }

  async function openCall(callId) {
    try {
      const card = await api("GET", `/api/desk/calls/${callId}/card`);
      showCard(card, card.call.status);
      focusCard(callId);
      cards.get(callId).el.querySelector("[name=outcome]").focus();
    } catch (err) { alertBar(err.message); }
  }

  function closeCard(callId) {
    const entry = cards.get(callId);
    if (!entry) return;
    entry.el.remove();
    cards.delete(callId);
    if (focused === callId) { focused = null; const next = cards.keys().next(); if (!next.done) focusCard(next.value); }
    syncWaiting();
  }

  function focusCard(id) {
    focused = id;
    for (const [cid, entry] of cards) entry.el.classList.toggle("focused", cid === id);
  }

  function syncWaiting() { waiting.hidden = cards.size > 0; }

  function readDraft(el) {
    const draft = {};
    for (const field of el.querySelectorAll("[data-draft]")) draft[field.dataset.draft] = field.value;
    return draft;
  }
  function writeDraft(el, draft) {
    for (const field of el.querySelectorAll("[data-draft]")) if (draft[field.dataset.draft]) field.value = draft[field.dataset.draft];
  }

  function channelLine(call) {
    if (!call.channel) return "";
    return `<span class="channel">${esc(T.via)} ${esc(call.channel.name)}${call.channel.label ? " — " + esc(call.channel.label) : ""}</span>`;
  }

  function kindLine(card) {
    const call = card.call;
    if (call.test) return `<span class="kind test" data-test-call>${esc(T.test_call)}</span>`;
    if (card.patients.length > 1) return `<span class="kind family">${esc(tx("kind.family"))}</span>`;
    const kind = card.patients.length ? "repeat" : call.caller_kind === "hidden" ? "hidden" : "new";
    const first = !card.patients.length && call.caller_kind !== "hidden" ? ` · ${esc(call.first_time ? T.first_time : T.called_before)}` : "";
    return `<span class="kind ${kind}">${esc(tx(`kind.${kind}`))}${first}</span>`;
  }

  function appointmentRow(a, actions) {
    const buttons = actions ? `<span class="row-actions">
        <button type="button" data-act="mark" data-mark="confirmed" data-appt="${a.id}" class="ok">${esc(T.confirm)}</button>
        <button type="button" data-act="mark" data-mark="call" data-appt="${a.id}">${esc(T.mark_call)}</button>
        <button type="button" data-act="cancel-open" data-appt="${a.id}" class="bad">${esc(T.cancel_visit)}</button></span>` : "";
    return `<li data-appt-row="${a.id}"><b>${esc(a.when)}</b> · ${esc(a.doctor)}${a.service ? " · " + esc(a.service) : ""} ${a.status === "booked" ? "" : `<span class="appt-status" data-status="${esc(a.status)}">${esc(a.status === "confirmed" ? T.confirm : T.mark_call)}</span>`}${buttons}</li>`;
  }

  function patientBlock(p, index, total, selected) {
    const pick = total > 1 ? `<button type="button" class="pick${selected ? " picked" : ""}" data-act="pick" data-patient="${p.id}"><kbd>${index + 1}</kbd> ${esc(p.name)}</button>` : "";
    if (total > 1 && !selected) return `<div class="patient candidate">${pick}</div>`;
    const due = p.due.length ? p.due.map((d) => `<li class="${d.overdue ? "overdue" : ""}">${esc(tx(`purpose.${d.purpose}`, d.purpose))} · ${esc(d.due_date)}${d.at ? " · " + esc(when(d.at)) : ""}</li>`).join("") : `<li class="none">${esc(T.none)}</li>`;
    const next = p.next_appointments.length ? p.next_appointments.map((a) => appointmentRow(a, true)).join("") : `<li class="none">${esc(T.none)}</li>`;
    return `<div class="patient" data-patient-id="${p.id}">
      ${pick}
      <div class="who">
        <h3 class="patient-name">${esc(p.name)}</h3>
        <span class="badge ${p.new ? "new" : "repeat"}">${esc(p.new ? T.new_badge : T.repeat_badge)}${p.visits ? ` · ${esc(T.visits)}: ${p.visits}` : ""}</span>
        <a class="open-card" href="/desk/patients/${p.id}" target="_blank" rel="noopener">${esc(T.open_card)}</a>
        <a class="open-history" href="/desk/patients/${p.id}/calls" target="_blank" rel="noopener">${esc(T.history)}</a>
      </div>
      <p class="address">${esc(T.address_as)}: <b class="address-as">${esc(p.address || T.ask_name)}</b></p>
      <div class="facts">
        <section><h4>${esc(T.next_appointments)}</h4><ul class="appointments">${next}</ul></section>
        <section><h4>${esc(T.last_visit)}</h4><p>${p.last_visit ? `${esc(p.last_visit.when)} · ${esc(p.last_visit.doctor)}${p.last_visit.service ? " · " + esc(p.last_visit.service) : ""}` : esc(T.none)}</p></section>
        <section><h4>${esc(T.due)}</h4><ul>${due}</ul></section>
        ${p.notes ? `<section><h4>${esc(T.notes)}</h4><p class="notes">${esc(p.notes)}</p></section>` : ""}
      </div>
      <form class="cancel-form" data-form="cancel" hidden>
        <p class="rule">${esc(T.cancel_rule)}</p>
        <input type="hidden" name="appointment_id">
        <label>${esc(T.new_date)} <input type="datetime-local" name="starts_at"></label>
        <label>${esc(T.doctor)} <select name="doctor_id"><option value=""></option>${cfg.doctors.map((d) => `<option value="${d.id}">${esc(d.name)}</option>`).join("")}</select></label>
        <label>${esc(T.call_back_at)} <input type="datetime-local" name="call_back_at"></label>
        <label>${esc(T.refused)} <input type="text" name="refused" maxlength="500"></label>
        <button type="submit" class="bad">${esc(T.cancel_visit)}</button>
        <span class="form-error" role="alert"></span>
      </form>
    </div>`;
  }

  function servicePick(chosen) {
    if (!cfg.services.length) return "";
    const options = cfg.services.map((s) => `<option value="${s.id}"${String(s.id) === chosen ? " selected" : ""}>${esc(s.name)}</option>`).join("");
    return `<label class="service-pick">${esc(T.service_asked)} <kbd>P</kbd> <select data-service-pick><option value="">—</option>${options}</select></label>`;
  }

  async function pickService(callId, serviceId) {
    // The price-question script with the price of exactly this service from the clinic's list.
    const entry = cards.get(callId);
    entry.service = serviceId || null;
    const script = serviceId ? await api("GET", `/api/calls/${callId}/script?scenario=price_question&service_id=${encodeURIComponent(serviceId)}`) : null;
    if (entry.service !== (serviceId || null)) return;  // picked again meanwhile: the last pick wins
    entry.priceScript = script;
    if (serviceId) showCard(entry.card, entry.status); else await reloadCard(callId);
    cards.get(callId).el.querySelector("[data-service-pick]").focus();
  }

  async function acuteScript(callId) {
    // Acute pain: the acute script, whose first slot is today's (squeezed in if the day is full).
    const entry = cards.get(callId);
    entry.priceScript = await api("GET", `/api/calls/${callId}/script?scenario=acute_pain`);
    showCard(entry.card, entry.status);
  }

  function scriptBlock(script, service) {
    if (!script) return "";
    const sections = script.sections.map((s) => `<section class="step ${esc(s.kind)}">${s.title ? `<h4>${esc(s.title)}</h4>` : ""}<ul>${s.items.map((i) => `<li>${esc(i.text)}${i.answer ? `<div class="answer">${esc(i.answer)}</div>` : ""}</li>`).join("")}</ul></section>`).join("");
    const slots = script.slots.length ? `<div class="slots"><h4>${esc(T.slots)}</h4>${script.slots.map((s, i) => `<button type="button" class="slot" data-act="book" data-slot="${i}"><kbd>B ${i + 1}</kbd> ${esc(s.label)} · ${esc(s.doctor)}${s.may_wait ? ` <em>(${esc(T.may_wait)})</em>` : ""}</button>`).join("")}</div>` : "";
    const acute = script.scenario === "acute_pain" ? "" : `<button type="button" class="acute" data-act="acute"><kbd>A</kbd> ${esc(T.acute)}</button>`;
    return `<div class="script"><div class="script-head"><h3>${esc(T.script)}: ${esc(script.title)}</h3>${acute}</div>${servicePick(service)}${slots}<div class="steps">${sections}</div></div>`;
  }

  function renderCard(entry) {
    const card = entry.card;
    const call = card.call;
    const el = document.createElement("article");
    el.className = "pop";
    el.dataset.callId = call.id;
    el.dataset.status = entry.status;
    const patients = card.patients;
    const shown = patients.length > 1
      ? patients.map((p, i) => patientBlock(p, i, patients.length, p.id === entry.selected)).join("")
      : patients.map((p, i) => patientBlock(p, i, 1, true)).join("");
    const newForm = patients.length ? "" : DeskPatientForm.html(card, kit);
    const previous = card.previous_calls.length ? card.previous_calls.map((c) => `<li>${esc(when(c.started_at))} · ${esc(tx(`status.${c.status}`, c.status))}${c.outcome ? " · " + esc(tx(`outcome.${c.outcome}`, c.outcome)) : ""}${c.notes ? " · " + esc(c.notes) : ""}${c.recording ? DeskCard.player(c.id, esc(T.recording)) : ""}</li>`).join("") : `<li class="none">${esc(T.none)}</li>`;
    // The schedule link sits in the form's heading: on a laptop the card has no line to spare.
    const toSchedule = entry.selected ? ` · <a class="to-schedule" href="/desk/schedule?call_id=${call.id}&patient_id=${entry.selected}">${esc(T.schedule)}</a>` : "";
    const other = `<form class="other-time" data-form="book-other">
        <h4>${esc(T.other_time)}${toSchedule}</h4>
        <input type="datetime-local" name="starts_at">
        <select name="doctor_id" aria-label="${esc(T.doctor)}"><option value="">${esc(T.doctor)}…</option>${cfg.doctors.map((d) => `<option value="${d.id}">${esc(d.name)}</option>`).join("")}</select>
        <button type="submit">${esc(T.book)}</button><span class="form-error" role="alert"></span></form>`;
    el.innerHTML = `
      <header class="pop-head">
        <span class="status" data-status="${esc(entry.status)}">${esc(tx(`status.${entry.status}`, entry.status))}</span>
        <span class="number">${esc(call.number || tx("kind.hidden"))}</span>
        ${channelLine(call)}
        ${kindLine(card)}
        ${DeskCard.timerHtml(call)}
        ${call.recording ? DeskCard.player(call.id, esc(T.recording)) : ""}
        <button type="button" class="ghost close" data-act="close" title="Esc">${esc(T.close)} <kbd>Esc</kbd></button>
      </header>
      <div class="pop-body">
        <div class="col-patient">
          ${shown}${newForm}
          <section class="previous"><h4>${esc(T.previous_calls)}</h4><ul>${previous}</ul></section>
        </div>
        <div class="col-script">
          ${scriptBlock(card.script, entry.service)}
          ${patients.length ? other : ""}
          <form class="wrap-up" data-form="wrap-up">
            <h4>${esc(T.outcome)}</h4>
            <div class="row">
              <select name="outcome" data-draft="outcome" aria-label="${esc(T.outcome)}"><option value="">${esc(T.outcome)}…</option>${cfg.outcomes.map((o) => `<option value="${o}"${call.outcome === o ? " selected" : ""}>${esc(tx(`outcome.${o}`, o))}</option>`).join("")}</select>
              <select name="heard_from" data-draft="heard" aria-label="${esc(T.heard_from)}"><option value="">${esc(T.heard_from)}</option>${cfg.channels.map((c, i) => `<option value="${esc(c)}"${call.heard_from === c ? " selected" : ""}>${esc(cfg.channelNames[i])}</option>`).join("")}</select>
            </div>
            <textarea name="notes" rows="2" placeholder="${esc(T.call_notes)}" data-draft="notes">${esc(call.notes)}</textarea>
            <button type="submit">${esc(T.save)} <kbd>Ctrl+Enter</kbd></button>
            <span class="form-note" role="status"></span><span class="draft-note muted" role="status"></span>
            ${DeskCard.promptHtml(kit)}
          </form>
        </div>
      </div>`;
    entry.el = el;
    el.addEventListener("click", (ev) => onCardClick(ev, call.id));
    el.addEventListener("submit", (ev) => onCardSubmit(ev, call.id));
    el.addEventListener("focusin", () => focusCard(call.id));
    el.addEventListener("change", (ev) => {
      if (ev.target.matches("[data-service-pick]")) pickService(call.id, ev.target.value).catch((err) => alertBar(err.message));
      DeskPatientForm.onChange(kit, ev);
    });
    // Every change to the wrap-up is kept on the server as a draft (see desk_card.js).
    for (const kind of ["input", "change"]) el.addEventListener(kind, (ev) => { if (ev.target.closest("[data-form=wrap-up]")) DeskCard.schedule(kit, call.id, el); });
    // Other features add their part of the card (complaints.js: complaints, non-patient callers).
    document.dispatchEvent(new CustomEvent("desk:card", {detail: {el, card}}));
    return el;
  }

  async function reloadCard(callId) {
    const card = await api("GET", `/api/desk/calls/${callId}/card`);
    const entry = cards.get(callId);
    if (entry) { entry.selected = card.call.patient_id || entry.selected; showCard(card, entry.status); }
  }

  function note(form, text, bad) {
    const out = form.querySelector(".form-note, .form-error");
    if (out) { out.textContent = text; out.classList.toggle("bad", !!bad); }
  }

  async function pick(callId, patientId) {
    const entry = cards.get(callId);
    entry.selected = patientId;
    const card = await api("POST", `/api/desk/calls/${callId}/patient`, {patient_id: patientId});
    showCard(card, entry.status);
  }

  async function bookSlot(callId, index) {
    const entry = cards.get(callId);
    const slot = entry && entry.card.script && entry.card.script.slots[index];
    if (!slot) return;
    const patientId = entry.selected;
    const button = entry.el.querySelector(`[data-slot="${index}"]`);
    try {
      const booked = await api("POST", `/api/desk/calls/${callId}/book`, {patient_id: patientId, doctor_id: slot.doctor_id, starts_at: slot.starts_at, squeeze: !!slot.may_wait});
      window.bookingUndo.offer(booked.appointment_id, `${T.booked}: ${slot.label}`);
      entry.priceScript = null;  // its slots are taken now: the card's own script again
      await reloadCard(callId);
      const fresh = cards.get(callId).el.querySelector(".wrap-up select[name=outcome]");
      if (fresh) fresh.value = "booked";
    } catch (err) {
      if (button) { button.classList.add("failed"); button.title = err.message; }
      alertBar(err.message);
    }
  }

  function alertBar(text) {
    let bar = document.getElementById("desk-alert");
    if (!bar) { bar = document.createElement("div"); bar.id = "desk-alert"; bar.className = "alert"; bar.setAttribute("role", "alert"); document.body.append(bar); }
    bar.textContent = text;
    bar.hidden = false;
    setTimeout(() => { bar.hidden = true; }, 6000);
  }

  async function onCardClick(ev, callId) {
    const target = ev.target.closest("[data-act]");
    if (!target) return;
    const act = target.dataset.act;
    try {
      if (act === "close") requestClose(callId);
      else if (act === "close-later") requestClose(callId, true);
      else if (act === "save-close") {
        const form = target.form;
        if (!form.outcome.value) { note(form, T.choose_outcome, true); form.outcome.focus(); return; }
        cards.get(callId).closing = true;
        form.requestSubmit();
      }
      else if (act === "add-phone") DeskPatientForm.onClick(kit, ev);
      else if (act === "create-anyway") await onCardSubmit({preventDefault() {}, target: target.form, anyway: true}, callId);
      else if (act === "pick") await pick(callId, Number(target.dataset.patient));
      else if (act === "book") await bookSlot(callId, Number(target.dataset.slot));
      else if (act === "acute") await acuteScript(callId);
      else if (act === "mark") { await api("POST", `/api/desk/appointments/${target.dataset.appt}/mark`, {mark: target.dataset.mark}); await reloadCard(callId); refreshLists(); }
      else if (act === "cancel-open") {
        const form = target.closest(".patient").querySelector("[data-form=cancel]");
        form.hidden = false;
        form.appointment_id.value = target.dataset.appt;
        form.starts_at.focus();
      }
    } catch (err) { alertBar(err.message); }
  }

  async function onCardSubmit(ev, callId) {
    ev.preventDefault();
    const form = ev.target;
    const kind = form.dataset.form;
    const entry = cards.get(callId);
    try {
      if (kind === "wrap-up") {
        const body = {notes: form.notes.value, heard_from: form.heard_from.value || null};
        if (form.outcome.value) body.outcome = form.outcome.value;
        DeskCard.saved(callId);  // the wrap-up replaces the draft
        await api("POST", `/api/desk/calls/${callId}/wrap-up`, body);
        entry.card.call.outcome = form.outcome.value || null;
        entry.card.call.notes = form.notes.value;
        entry.card.call.heard_from = form.heard_from.value || null;
        note(form, T.saved);
        refreshLists();
        if (entry.closing && form.outcome.value) closeCard(callId);
      } else if (kind === "book-other") {
        const booked = await api("POST", `/api/desk/calls/${callId}/book`, {patient_id: entry.selected, doctor_id: Number(form.doctor_id.value) || null, starts_at: fromLocalInput(form.starts_at.value)});
        window.bookingUndo.offer(booked.appointment_id, `${T.booked}: ${when(booked.starts_at)}`);
        await reloadCard(callId);
      } else if (kind === "new-patient") {
        const card = await DeskPatientForm.submit(kit, form, callId, Boolean(ev.anyway));
        if (card) { entry.selected = card.call.patient_id; showCard(card, entry.status); }
      } else if (kind === "cancel") {
        const body = {call_id: callId, starts_at: fromLocalInput(form.starts_at.value), call_back_at: fromLocalInput(form.call_back_at.value)};
        if (form.doctor_id.value) body.doctor_id = Number(form.doctor_id.value);
        if (form.refused.value.trim()) body.refused = form.refused.value.trim();
        await api("POST", `/api/desk/appointments/${form.appointment_id.value}/cancel`, body);
        await reloadCard(callId);
        const outcome = cards.get(callId).el.querySelector(".wrap-up select[name=outcome]");
        if (outcome) outcome.value = body.starts_at ? "rescheduled" : "cancelled";
        refreshLists();
      }
    } catch (err) { note(form, err.message, true); if (entry) entry.closing = false; }
  }

  // ---- lists ----
  let listsPending = null;
  function refreshLists() {
    if (locked) return;
    clearTimeout(listsPending);
    listsPending = setTimeout(loadLists, 300);
  }

  async function loadLists() {
    if (locked) return;
    let data;
    try { data = await api("GET", "/api/desk/lists"); } catch { return; }
    fill("list-missed", data.missed, (m) => `<span class="who">${esc(m.name || m.number)}</span> <span class="muted">${esc(m.name ? m.number : "")}${m.attempts > 1 ? ` · ${m.attempts} ${esc(T.times)}` : ""}</span> <span class="wait" data-minutes="${m.waited_minutes}">${esc(T.waited)} ${waitText(m.waited_minutes)}</span>`, (m) => ({number: m.number_e164}), T.call_back);
    fill("list-confirmations", data.confirmations, (c) => `<span class="who">${esc(c.name)}</span> <span class="muted">${esc(c.when)} · ${esc(c.doctor)}</span>
        <span class="row-actions"><button type="button" data-mark="confirmed" data-appt="${c.appointment_id}" class="ok">${esc(T.confirm)}</button><button type="button" data-mark="call" data-appt="${c.appointment_id}">${esc(T.mark_call)}</button></span>`, (c) => ({number: c.number_e164}), T.dial);
    DeskCard.fillWithoutOutcome(kit, data.without_outcome || [], openCall);
    fill("list-call-backs", data.call_backs, (b) => `<span class="who">${esc(b.name || b.number)}</span> <span class="muted">${esc(tx(`purpose.${b.purpose}`, b.purpose))}${b.at ? " · " + esc(when(b.at)) : ""}</span>`, (b) => ({number: b.number_e164, task_id: b.task_id}), T.dial);
  }

  function waitText(minutes) {
    if (minutes < 60) return `${minutes} ${T.minutes}`;
    const h = Math.floor(minutes / 60);
    return `${h} ${T.hours} ${minutes % 60} ${T.minutes}`;
  }

  function fill(id, rows, line, dialBody, dialLabel) {
    const list = document.querySelector(`#${id} ol`);
    if (!rows.length) { list.innerHTML = `<li class="none">${esc(T.empty)}</li>`; return; }
    list.innerHTML = rows.map((r, i) => `<li data-row="${i}">${line(r)}${dialBody(r).number ? ` <button type="button" class="dial" data-dial="${i}">☎ ${esc(dialLabel)}</button>` : ""}</li>`).join("");
    list.onclick = async (ev) => {
      const dialBtn = ev.target.closest("[data-dial]");
      const markBtn = ev.target.closest("[data-mark]");
      try {
        if (dialBtn) { await clickToCall(dialBody(rows[Number(dialBtn.dataset.dial)])); }
        if (markBtn) { await api("POST", `/api/desk/appointments/${markBtn.dataset.appt}/mark`, {mark: markBtn.dataset.mark}); loadLists(); }
      } catch (err) { alertBar(err.message); }
    };
  }

  async function clickToCall(body) {
    if (window.DeskPhone && window.DeskPhone.ready()) return window.DeskPhone.dial(body);  // softphone.js
    alertBar(T.dialing);
    await api("POST", "/api/desk/dial", body);
  }

  // ---- lock ----
  async function lockDesk(tellServer = true) {
    if (locked && !tellServer) { showLock(); return; }
    locked = true;
    disconnect();
    // Remove, not hide: nothing of a patient stays in the page while nobody is at the desk.
    // What was typed is sent as a draft first (the server keeps it behind the password).
    const kept = [...cards.entries()].map(([id, entry]) => DeskCard.flush(kit, id, entry.el));
    for (const id of [...cards.keys()]) closeCard(id);
    await Promise.allSettled(kept);
    for (const list of document.querySelectorAll(".desk-lists ol")) list.innerHTML = "";
    showLock();
    if (tellServer) { try { await api("POST", "/api/desk/lock", {}); } catch { /* locked locally anyway */ } }
  }

  function showLock() {
    document.getElementById("desk").dataset.locked = "yes";
    lockForm.hidden = false;
    lockForm.password.value = "";
    lockForm.password.focus();
  }

  lockForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/api/desk/unlock", {password: lockForm.password.value});
    } catch (err) {
      document.getElementById("lock-error").textContent = T.wrong_password;
      return;
    }
    locked = false;
    lockForm.hidden = true;
    document.getElementById("lock-error").textContent = "";
    document.getElementById("desk").dataset.locked = "no";
    start();
  });

  function resetIdle() {
    clearTimeout(idleTimer);
    if (!locked) idleTimer = setTimeout(() => lockDesk(true), cfg.lockMinutes * 60000);
  }
  for (const kind of ["keydown", "mousemove", "mousedown", "touchstart", "wheel"]) document.addEventListener(kind, resetIdle, {passive: true});
  document.getElementById("lock-btn").addEventListener("click", () => lockDesk(true));

  // ---- keyboard: the headset workflow ----
  document.addEventListener("keydown", (ev) => {
    if (locked) return;
    const typing = ev.target.matches("input, textarea, select");
    const entry = focused !== null ? cards.get(focused) : null;
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && entry) {
      ev.preventDefault();
      entry.el.querySelector("[data-form=wrap-up]").requestSubmit();
      return;
    }
    if (ev.key === "Escape") {
      const prompt = entry && entry.el.querySelector(".close-prompt:not([hidden])");
      if (prompt) { prompt.hidden = true; ev.target.blur(); return; }  // back to the card
      if (typing) { ev.target.blur(); return; }
      if (entry) requestClose(focused);
      return;
    }
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const key = ev.key.toLowerCase();
    if (chord === "b" && entry && (key === "1" || key === "2")) { chord = null; ev.preventDefault(); bookSlot(focused, Number(key) - 1); return; }
    chord = null;
    if (key === "l") { ev.preventDefault(); lockDesk(true); return; }
    if (key === "w") {
      const first = document.querySelector("#list-without-outcome [data-open]");
      if (first) { ev.preventDefault(); first.focus(); }
      return;
    }
    if (key === "tab" && cards.size > 1) {
      ev.preventDefault();
      const ids = [...cards.keys()];
      focusCard(ids[(ids.indexOf(focused) + 1) % ids.length]);
      return;
    }
    if (!entry) return;
    if (/^[1-9]$/.test(key) && entry.card.patients.length > 1) {
      const patient = entry.card.patients[Number(key) - 1];
      if (patient) { ev.preventDefault(); pick(focused, patient.id).catch((err) => alertBar(err.message)); }
      return;
    }
    if (key === "b") { chord = "b"; setTimeout(() => { chord = null; }, 1500); return; }
    if (key === "a") { ev.preventDefault(); acuteScript(focused).catch((err) => alertBar(err.message)); return; }
    if (key === "o") { ev.preventDefault(); entry.el.querySelector("[name=outcome]").focus(); return; }
    if (key === "p" && cfg.services.length) { ev.preventDefault(); entry.el.querySelector("[data-service-pick]").focus(); return; }
    if (key === "h") { ev.preventDefault(); entry.el.querySelector("[name=heard_from]").focus(); return; }
    if (key === "n") { ev.preventDefault(); entry.el.querySelector("[name=notes]").focus(); }
  });

  // ---- start ----
  async function start() {
    resetIdle();
    try {
      const active = await api("GET", "/api/desk/active");
      for (const card of active.cards) showCard(card, card.call.status);
    } catch { /* the stream still brings new pops */ }
    connect();
    loadLists();
  }

  // A reload or a closed tab sends the drafts still waiting for their pause.
  window.addEventListener("pagehide", () => { for (const [id, entry] of cards) DeskCard.flush(kit, id, entry.el); });
  // An undone booking changes the card's visits and slots.
  document.addEventListener("booking-undone", (ev) => {
    if (!ev.detail.ok) { alertBar(ev.detail.message); return; }
    for (const id of cards.keys()) reloadCard(id).catch((err) => alertBar(err.message));
  });

  syncWaiting();
  if (locked) showLock(); else start();
  setInterval(() => { if (!locked) loadLists(); }, 60000);
})();
