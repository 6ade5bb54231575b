// Text messages at the desk: the unread incoming texts in the desk's lists (like missed calls)
// and the thread on the patient's card with a reply box. Polls: texts are not urgent enough for
// the desk's call stream, and the receptionist sees a new one within POLL_MS.
"use strict";
(() => {
  const POLL_MS = 5000;
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const when = (iso) => new Date(iso).toLocaleString([], {dateStyle: "short", timeStyle: "short"});

  async function getJSON(url) {
    const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    if (!response.ok) throw new Error(response.statusText);
    return response.json();
  }

  const unread = document.getElementById("list-texts");
  if (unread) {
    const list = unread.querySelector("ol");
    const refresh = async () => {
      try {
        const {items} = await getJSON("/api/messages/unread");
        list.innerHTML = items.length ? items.map((m) => {
          const who = `<span class="who">${esc(m.phone)}</span> <span class="muted">${esc(when(m.at))}</span>`;
          const text = `<span class="text-body">${esc(m.text)}</span>`;
          return m.patient_id ? `<li class="text-unread"><a href="/desk/patients/${m.patient_id}">${who}</a> ${text}</li>`
                              : `<li class="text-unread">${who} ${text}</li>`;
        }).join("") : `<li class="none">${esc(unread.dataset.none)}</li>`;
      } catch (err) { /* the next round tries again */ }
    };
    refresh();
    setInterval(refresh, POLL_MS);
  }

  const thread = document.getElementById("thread");
  if (thread) {
    const patientId = document.querySelector("[data-patient-id]").dataset.patientId;
    const url = `/api/patients/${patientId}/messages`;
    const list = thread.querySelector("ol");
    const render = (items) => {
      list.innerHTML = items.length ? items.map((e) => {
        const label = e.kind === "call" ? `${thread.dataset.call} · ${e.status}`
          : (e.direction === "inbound" ? thread.dataset.in : `${thread.dataset.out} · ${e.status}`);
        return `<li class="thread-${esc(e.kind)} thread-${esc(e.direction)}"><span class="muted">${esc(when(e.at))} · ${esc(label)} · ${esc(e.phone)}</span>` +
          (e.text ? `<p class="text-body">${esc(e.text)}</p>` : "") + "</li>";
      }).join("") : `<li class="none">${esc(thread.dataset.none)}</li>`;
    };
    let polled = false;
    const refresh = async () => {
      try { render((await getJSON(polled ? `${url}?poll=1` : url)).items); polled = true; }
      catch (err) { /* the next round tries again */ }
    };
    const form = document.getElementById("reply");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const note = document.getElementById("reply-note");
      const data = new FormData(form);
      const response = await fetch(url, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
        body: JSON.stringify({body: data.get("body"), phone: data.get("phone") || null})});
      const body = await response.json().catch(() => ({}));
      note.textContent = response.ok ? note.dataset.sent : (body.message || response.statusText);
      if (response.ok) { form.reset(); refresh(); }
    });
    form.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
    });
    refresh();
    setInterval(refresh, POLL_MS);
  }
})();
