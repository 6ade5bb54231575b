// The call card's markup, used by desk.js: the caller (or the family on a shared number), their
// visits and what is due, the script with its two slots, and the wrap-up form. Strings only; desk.js
// puts them in the page and wires the events. Every value from the server goes through esc().
window.DeskMarkup = (kit) => {
  "use strict";
  const {esc, T, tx, when, cfg} = kit;

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

  function scriptBlock(script, service) {
    if (!script) return "";
    const sections = script.sections.map((s) => `<section class="step ${esc(s.kind)}">${s.title ? `<h4>${esc(s.title)}</h4>` : ""}<ul>${s.items.map((i) => `<li>${esc(i.text)}${i.answer ? `<div class="answer">${esc(i.answer)}</div>` : ""}</li>`).join("")}</ul></section>`).join("");
    const slots = script.slots.length ? `<div class="slots"><h4>${esc(T.slots)}</h4>${script.slots.map((s, i) => `<button type="button" class="slot" data-act="book" data-slot="${i}"><kbd>B ${i + 1}</kbd> ${esc(s.label)} · ${esc(s.doctor)}${s.may_wait ? ` <em>(${esc(T.may_wait)})</em>` : ""}</button>`).join("")}</div>` : "";
    const acute = script.scenario === "acute_pain" ? "" : `<button type="button" class="acute" data-act="acute"><kbd>A</kbd> ${esc(T.acute)}</button>`;
    return `<div class="script"><div class="script-head"><h3>${esc(T.script)}: ${esc(script.title)}</h3>${acute}</div>${servicePick(service)}${slots}<div class="steps">${sections}</div></div>`;
  }

  function cardHtml(entry) {
    const card = entry.card;
    const call = card.call;
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
    return `
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
  }

  return {card: cardHtml};
};
