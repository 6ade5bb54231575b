// The desk's complaints and non-patient part: a panel added to every card desk.js draws (the
// "desk:card" event), the same complaint form on a patient's page, and the list of complaints
// this receptionist must report back on.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  let cfg = null;
  const pending = [];
  const tx = (key) => (cfg && cfg.texts[key]) || key;
  const fill = (key, values) => tx(key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");

  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || response.statusText);
    return data;
  }

  const options = (values, prefix) => values.map((v) => `<option value="${esc(v)}">${esc(tx(`${prefix}.${v}`))}</option>`).join("");

  function complaintLine(c) {
    return `<li data-complaint="${c.id}">${esc(tx(`subject.${c.subject}`))} · ${esc(tx(`status.${c.status}`))} · ${esc(c.owner)} · ${esc(c.due_on)}${c.overdue ? ` · <strong>${esc(tx("overdue"))}</strong>` : ""}</li>`;
  }

  function routeBlock(route) {
    if (!route) return `<p class="fd-route">${esc(tx("no_route"))}</p>`;
    const who = esc(fill("route_to", {person: route.person}));
    if (route.kind === "extension") return `<p class="fd-route">${who}: ${esc(fill("transfer_ext", {target: route.target}))} <button type="button" data-fd="transferred">${esc(tx("done"))}</button></p>`;
    if (route.kind === "phone") return `<p class="fd-route">${who} <button type="button" data-fd="dial" data-number="${esc(route.target)}">${esc(fill("call_person", {person: route.person}))}</button></p>`;
    return `<form class="fd-route" data-fd="message"><p>${esc(tx("message_hint"))}</p>
      <input name="email" type="email" placeholder="${esc(tx("email"))}" required>
      <input name="text" placeholder="${esc(tx("message_text"))}">
      <button type="submit">${esc(tx("send_message"))}</button></form>`;
  }

  function organisationBlock(ctx) {
    const org = ctx.organisation;
    return `<section class="fd-org" data-org="${org.id}"><h4>${esc(tx("not_patient"))}: ${esc(org.name || tx("organisation"))} · ${esc(tx(`purpose.${org.purpose}`))}</h4>${routeBlock(ctx.route)}</section>`;
  }

  function markForm() {
    return `<details class="fd-mark"><summary>${esc(tx("mark"))}</summary><form data-fd="mark">
      <select name="purpose">${options(cfg.purposes, "purpose")}</select>
      <input name="name" placeholder="${esc(tx("organisation"))}" maxlength="200">
      <input name="email" type="email" placeholder="${esc(tx("email"))}" maxlength="200">
      <button type="submit">${esc(tx("mark"))}</button></form></details>`;
  }

  function complaintForm() {
    return `<details class="fd-complaint"><summary>${esc(tx("complaint"))}</summary><form data-fd="complaint">
      <label>${esc(tx("about"))} <select name="subject">${options(cfg.subjects, "subject")}</select></label>
      <label>${esc(tx("severity"))} <select name="severity">${options(cfg.severities, "severity")}</select></label>
      <textarea name="words" rows="3" placeholder="${esc(tx("words"))}" required></textarea>
      <button type="submit">${esc(tx("save_complaint"))}</button></form></details>`;
  }

  async function draw(el, card) {
    const call = card.call;
    const ctx = await api("GET", `/api/complaints/calls/${call.id}`);
    const panel = document.createElement("section");
    panel.className = "fd-panel";
    const nonPatient = call.caller_kind === "non_patient" && ctx.organisation;
    if (nonPatient) el.querySelectorAll(".new-patient").forEach((form) => form.remove());
    const listed = ctx.complaints.length ? `<h4>${esc(tx("complaints_here"))}</h4><ul class="fd-list">${ctx.complaints.map(complaintLine).join("")}</ul>` : "";
    panel.innerHTML = `${nonPatient ? organisationBlock(ctx) : ""}${!nonPatient && !card.patients.length ? markForm() : ""}${nonPatient ? "" : complaintForm()}${listed}<p class="fd-note" role="status"></p>`;
    panel.addEventListener("submit", (ev) => { ev.preventDefault(); ev.stopPropagation(); act(ev.target, el, card).catch((err) => say(panel, err.message, true)); });
    panel.addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-fd]");
      if (button) { ev.stopPropagation(); act(button, el, card).catch((err) => say(panel, err.message, true)); }
    });
    // The patient column has room; the script column must keep the slots and wrap-up in sight on a
    // laptop. An organisation's block leads its column, a complaint form follows the patient.
    const column = el.querySelector(".col-patient") || el;
    if (nonPatient) column.prepend(panel); else column.append(panel);
  }

  // The patient's page: no call, so the complaint is about the patient (card.patientId).
  function drawPatient(page) {
    const card = {patientId: Number(page.dataset.patientId)};
    const panel = document.createElement("section");
    panel.className = "fd-panel";
    panel.innerHTML = `${complaintForm()}<p class="fd-note" role="status"></p>`;
    panel.addEventListener("submit", (ev) => { ev.preventDefault(); act(ev.target, page, card).catch((err) => say(panel, err.message, true)); });
    page.querySelector(".facts").after(panel);
  }

  function say(panel, text, bad) {
    const out = panel.querySelector(".fd-note");
    out.textContent = text;
    out.classList.toggle("bad", !!bad);
  }

  async function act(target, el, card) {
    const panel = target.closest(".fd-panel");
    const callId = card.call && card.call.id;
    const kind = target.dataset.fd;
    if (kind === "complaint") {
      const about = card.call ? {call_id: callId} : {patient_id: card.patientId};
      const made = await api("POST", "/api/complaints", {...about, subject: target.subject.value, severity: target.severity.value, words: target.words.value});
      say(panel, fill("recorded", {owner: made.owner, due: made.due_on}));
      target.reset();
    } else if (kind === "mark") {
      await api("POST", `/api/complaints/calls/${callId}/non-patient`, {purpose: target.purpose.value, name: target.name.value, email: target.email.value});
      redraw(el, {...card, call: {...card.call, caller_kind: "non_patient"}});
    } else if (kind === "transferred") {
      await api("POST", `/api/complaints/calls/${callId}/transferred`, {});
      say(panel, tx("transferred"));
    } else if (kind === "dial") {
      await api("POST", "/api/desk/dial", {number: target.dataset.number});
      say(panel, tx("transferred"));
    } else if (kind === "message") {
      await api("POST", `/api/complaints/calls/${callId}/message`, {email: target.email.value, text: target.text.value});
      say(panel, tx("message_sent"));
    }
  }

  function redraw(el, card) {
    el.querySelectorAll(".fd-panel").forEach((old) => old.remove());
    draw(el, card).catch(() => {});
  }

  function reportBack(rows) {
    const list = document.getElementById("list-complaints");
    if (!list) return;
    list.hidden = rows.length === 0;
    list.querySelector("h2").textContent = tx("report_back");
    list.querySelector("ol").innerHTML = rows.map((c) => `<li data-complaint="${c.id}"><a href="/complaints">${esc(tx(`subject.${c.subject}`))} · ${esc(tx(`status.${c.status}`))} · ${esc(c.due_on)}${c.overdue ? ` · <strong>${esc(tx("overdue"))}</strong>` : ""}</a></li>`).join("");
  }

  document.addEventListener("desk:card", (ev) => {
    const {el, card} = ev.detail;
    if (cfg) draw(el, card).catch(() => {});
    else pending.push([el, card]);
  });

  api("GET", "/api/complaints/desk").then((data) => {
    cfg = data;
    reportBack(data.report_back);
    for (const [el, card] of pending.splice(0)) draw(el, card).catch(() => {});
    const page = document.querySelector(".patient-page[data-patient-id]");
    if (page) drawPatient(page);
  }).catch(() => {});
})();
