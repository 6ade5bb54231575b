// The few seconds after a booking: a toast with Undo (button or U), on the desk and the schedule.
// The offer survives the schedule's reload (sessionStorage), and the server refuses a late undo.
(() => {
  "use strict";
  const KEY = "booking-undo";
  const SHOWN_MS = 10000;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let toast = null;
  let timer = null;

  function element() {
    if (toast) return toast;
    toast = document.getElementById("undo-toast");  // base.html draws it on every desk page
    toast.querySelector("[data-act=undo]").addEventListener("click", () => undo());
    return toast;
  }

  function hide() { sessionStorage.removeItem(KEY); if (toast) toast.hidden = true; clearTimeout(timer); }

  function show(offer) {
    const left = offer.until - Date.now();
    if (left <= 0) { hide(); return; }
    const el = element();
    el.querySelector("span").textContent = offer.label;
    el.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(hide, left);
  }

  async function undo() {
    const offer = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (!offer) return;
    const response = await fetch(`/api/desk/appointments/${offer.id}/undo`, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: "{}"});
    const data = await response.json().catch(() => ({}));
    hide();
    document.dispatchEvent(new CustomEvent("booking-undone", {detail: {id: offer.id, ok: response.ok, message: data.message || ""}}));
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.key.toLowerCase() !== "u" || ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.matches("input, textarea, select")) return;
    if (toast && !toast.hidden) { ev.preventDefault(); undo(); }
  });

  window.bookingUndo = {
    offer(id, label) { const offer = {id, label, until: Date.now() + SHOWN_MS}; sessionStorage.setItem(KEY, JSON.stringify(offer)); show(offer); },
  };
  const pending = JSON.parse(sessionStorage.getItem(KEY) || "null");
  if (pending) show(pending);
})();
