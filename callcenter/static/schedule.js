// The desk's schedule page: book a free slot for the picked patient (with Undo for a few
// seconds), move a visit to another slot, cancel it under the rule. The page is the truth: after
// each change it is loaded again from the server.
(() => {
  "use strict";
  const cfg = JSON.parse(document.getElementById("schedule-config").textContent);
  const T = cfg.texts;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const page = document.getElementById("schedule");
  const errorLine = document.getElementById("sched-error");
  const moveForm = document.getElementById("move-form");
  const cancelForm = document.getElementById("cancel-form");
  let patientId = cfg.patient_id;
  let moving = null;

  // datetime-local is the clinic's wall clock; the server wants the zone's offset at that time.
  function withOffset(wall) {
    if (!wall) return null;
    const moment = new Date(Date.parse(`${wall}:00Z`));
    const zone = new Intl.DateTimeFormat("en-US", {timeZone: cfg.timezone, timeZoneName: "longOffset"})
      .formatToParts(moment).find((part) => part.type === "timeZoneName").value;
    return `${wall}:00${zone === "GMT" ? "+00:00" : zone.slice(3)}`;
  }

  async function post(url, body) {
    const response = await fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json"},
      body: JSON.stringify(body)});
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(data.message || response.statusText), {data});
    return data;
  }

  function fail(err, where = errorLine) { where.textContent = err.message; }

  async function book(button) {
    if (moving) { await move(moving, {starts_at: button.dataset.starts, doctor_id: Number(button.dataset.doctor)}); return; }
    if (!patientId) { errorLine.textContent = T.pick_patient; document.getElementById("find-patient").click(); return; }
    const body = {patient_id: patientId, doctor_id: Number(button.dataset.doctor), starts_at: button.dataset.starts};
    const service = document.getElementById("sched-service");
    if (service && service.value) body.service_id = Number(service.value);
    if (cfg.call_id) body.call_id = cfg.call_id;
    const booked = await post("/api/desk/schedule/book", body);
    window.bookingUndo.offer(booked.appointment_id, `${T.booked}: ${button.textContent.trim()}`);
    window.location.reload();
  }

  async function move(appointmentId, body) {
    await post(`/api/desk/appointments/${appointmentId}/move`, body);
    moving = null;
    window.location.reload();
  }

  function open(form, appointmentId) {
    for (const other of [moveForm, cancelForm]) other.hidden = other !== form;
    form.hidden = false;
    form.appointment_id.value = appointmentId;
    form.querySelector("input[type=datetime-local]").focus();
  }

  page.addEventListener("click", async (ev) => {
    const target = ev.target.closest("[data-act]");
    if (!target) return;
    errorLine.textContent = "";
    try {
      if (target.dataset.act === "book") await book(target);
      else if (target.dataset.act === "move") { moving = Number(target.dataset.appt); open(moveForm, moving); errorLine.textContent = T.pick_slot; }
      else if (target.dataset.act === "cancel") open(cancelForm, target.dataset.appt);
      else if (target.dataset.act === "close-dialog") { moving = null; target.closest("form").hidden = true; }
    } catch (err) { fail(err); }
  });

  moveForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {starts_at: withOffset(moveForm.starts_at.value)};
    if (moveForm.doctor_id.value) body.doctor_id = Number(moveForm.doctor_id.value);
    try { await move(moveForm.appointment_id.value, body); } catch (err) { fail(err, moveForm.querySelector(".form-error")); }
  });

  cancelForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {starts_at: withOffset(cancelForm.starts_at.value), call_back_at: withOffset(cancelForm.call_back_at.value)};
    try {
      await post(`/api/desk/appointments/${cancelForm.appointment_id.value}/cancel`, body);
      window.location.reload();
    } catch (err) { fail(err, cancelForm.querySelector(".form-error")); }
  });

  document.addEventListener("patient-picked", (ev) => {
    patientId = ev.detail.id;
    document.getElementById("sched-patient").textContent = ev.detail.name;
    const url = new URL(window.location.href);
    url.searchParams.set("patient_id", String(patientId));
    window.history.replaceState(null, "", url);
  });
  document.addEventListener("booking-undone", (ev) => {
    if (ev.detail.ok) window.location.reload(); else errorLine.textContent = ev.detail.message;
  });
})();
