// The receptionist's outbound list: an outcome button records the attempt and clears the row.
"use strict";
document.querySelectorAll("button.outcome").forEach((button) => {
  button.addEventListener("click", async () => {
    const row = button.closest("tr");
    const reply = await fetch(`/api/campaigns/tasks/${row.dataset.task}/outcome`, {
      method: "POST",
      headers: {"Content-Type": "application/json",
                "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
      body: JSON.stringify({outcome: button.dataset.outcome}),
    });
    if (reply.ok) { row.remove(); } else { button.textContent = (await reply.json()).message; }
  });
});
