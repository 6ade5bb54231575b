// Click-to-call from the patient's card: the headset rings first, then the patient.
"use strict";
document.addEventListener("click", async (ev) => {
  const button = ev.target.closest("button.dial");
  if (!button) return;
  const note = document.getElementById("dial-note");
  const response = await fetch("/api/desk/dial", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
    body: JSON.stringify({number: button.dataset.number})});
  const body = await response.json().catch(() => ({}));
  note.textContent = response.ok ? note.dataset.dialing : (body.message || response.statusText);
});
