// The receptionist's desk: live pops over SSE (resumed with Last-Event-ID), the cards, wrap-up,
// booking, click-to-call and the idle lock; the card's markup, the work lists and the keyboard are in
// desk_markup.js, desk_lists.js and desk_keys.js. Vanilla JS, no build step. Patient data lives only in
// the DOM of open cards and lists, and is removed (not hidden) when the desk locks.
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
  // What desk_card.js, desk_patient_form.js, desk_markup.js and desk_lists.js need of this page.
  const kit = {api, esc, tx, T, cfg, when, csrf};
  const markup = DeskMarkup(kit);
  const lists = DeskLists(kit, {isLocked: () => locked, openCall, dial: clickToCall, alertBar});

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
        lists.load();  // learns why through api(): 423 shows the lock screen, 401 the sign-in page
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
      if (kind !== "pop") lists.refresh();
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
    DeskCard.flush(kit, callId, entry.el).then(lists.refresh);  // it may wait on a list now
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

  function renderCard(entry) {
    const card = entry.card;
    const call = card.call;
    const el = document.createElement("article");
    el.className = "pop";
    el.dataset.callId = call.id;
    el.dataset.status = entry.status;
    el.innerHTML = markup.card(entry);
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
      else if (act === "mark") { await api("POST", `/api/desk/appointments/${target.dataset.appt}/mark`, {mark: target.dataset.mark}); await reloadCard(callId); lists.refresh(); }
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
        lists.refresh();
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
        lists.refresh();
      }
    } catch (err) { note(form, err.message, true); if (entry) entry.closing = false; }
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

  DeskKeys({cards, isLocked: () => locked, focused: () => focused, hasServices: cfg.services.length > 0,
    requestClose, bookSlot, lockDesk, focusCard, pick, acuteScript, alertBar});

  // ---- start ----
  async function start() {
    resetIdle();
    try {
      const active = await api("GET", "/api/desk/active");
      for (const card of active.cards) showCard(card, card.call.status);
    } catch { /* the stream still brings new pops */ }
    connect();
    lists.load();
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
  setInterval(() => { if (!locked) lists.load(); }, 60000);
})();
