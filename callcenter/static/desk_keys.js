// The desk's keyboard, used by desk.js: a receptionist on a headset works the card without the mouse.
// Ctrl+Enter saves the wrap-up, Esc closes (or backs out of a field), B then 1/2 books a slot, 1–9
// picks a family member, Tab moves between cards, A opens the acute script, O/P/H/N jump to the
// outcome, the service asked about, "heard from" and the notes, W to the calls without an outcome,
// L locks the desk.
window.DeskKeys = (page) => {
  "use strict";
  let chord = null;

  document.addEventListener("keydown", (ev) => {
    if (page.isLocked()) return;
    const typing = ev.target.matches("input, textarea, select");
    const focused = page.focused();
    const entry = focused !== null ? page.cards.get(focused) : null;
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && entry) {
      ev.preventDefault();
      entry.el.querySelector("[data-form=wrap-up]").requestSubmit();
      return;
    }
    if (ev.key === "Escape") {
      const prompt = entry && entry.el.querySelector(".close-prompt:not([hidden])");
      if (prompt) { prompt.hidden = true; ev.target.blur(); return; }  // back to the card
      if (typing) { ev.target.blur(); return; }
      if (entry) page.requestClose(focused);
      return;
    }
    if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const key = ev.key.toLowerCase();
    if (chord === "b" && entry && (key === "1" || key === "2")) { chord = null; ev.preventDefault(); page.bookSlot(focused, Number(key) - 1); return; }
    chord = null;
    if (key === "l") { ev.preventDefault(); page.lockDesk(true); return; }
    if (key === "w") {
      const first = document.querySelector("#list-without-outcome [data-open]");
      if (first) { ev.preventDefault(); first.focus(); }
      return;
    }
    if (key === "tab" && page.cards.size > 1) {
      ev.preventDefault();
      const ids = [...page.cards.keys()];
      page.focusCard(ids[(ids.indexOf(focused) + 1) % ids.length]);
      return;
    }
    if (!entry) return;
    if (/^[1-9]$/.test(key) && entry.card.patients.length > 1) {
      const patient = entry.card.patients[Number(key) - 1];
      if (patient) { ev.preventDefault(); page.pick(focused, patient.id).catch((err) => page.alertBar(err.message)); }
      return;
    }
    if (key === "b") { chord = "b"; setTimeout(() => { chord = null; }, 1500); return; }
    if (key === "a") { ev.preventDefault(); page.acuteScript(focused).catch((err) => page.alertBar(err.message)); return; }
    if (key === "o") { ev.preventDefault(); entry.el.querySelector("[name=outcome]").focus(); return; }
    if (key === "p" && page.hasServices) { ev.preventDefault(); entry.el.querySelector("[data-service-pick]").focus(); return; }
    if (key === "h") { ev.preventDefault(); entry.el.querySelector("[name=heard_from]").focus(); return; }
    if (key === "n") { ev.preventDefault(); entry.el.querySelector("[name=notes]").focus(); }
  });
};
