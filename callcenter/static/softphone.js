// The desk's browser phone: SIP over WebSocket (JsSIP, bundled at setup into vendor/jssip.js) or
// Twilio's Voice SDK (softphone_twilio.js). The ringing pop is the incoming call: the server
// names the card a call belongs to, and its controls (answer, hold, mute, keypad, transfer, hang
// up, timer) are drawn on that card. Click-to-call from the lists dials here once the server's
// dial rules allow it. Every call is reported to /api/desk/softphone/events by its Call-ID.
(() => {
  "use strict";
  const T = JSON.parse(document.getElementById("phone-config").textContent).texts;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const panel = document.getElementById("phone");
  const stateEl = document.getElementById("phone-state");
  const problemEl = document.getElementById("phone-problem");
  const statsEl = document.getElementById("phone-stats");
  const micSelect = document.getElementById("phone-mic");
  const speakerSelect = document.getElementById("phone-speaker");
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const calls = new Map(); // our call id (or "loose-N") -> call state
  const audio = new Audio();
  let line = null; // {dial(target, extra), transferUri(ext)} of the SIP or Twilio adapter
  let cfg = null;
  let registered = false;
  let looseCount = 0;

  async function api(method, url, body) {
    const response = await fetch(url, {method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(data.message || response.statusText), {data, status: response.status});
    return data;
  }

  function setState(state) {
    panel.dataset.state = state;
    stateEl.textContent = `${T.phone}: ${T[`state.${state}`] || state}`;
  }
  function problem(key, params) {
    if (!key) { problemEl.hidden = true; problemEl.dataset.problem = ""; return; }
    let text = T[`problem.${key}`] || key;
    for (const [k, v] of Object.entries(params || {})) text = text.replace(`{${k}}`, v);
    problemEl.textContent = text;
    problemEl.dataset.problem = key;
    problemEl.hidden = false;
  }
  const media = () => ({audio: micSelect.value ? {deviceId: {exact: micSelect.value}} : true, video: false});

  // ---- the call on its card ----
  function report(call, kind, extra = {}) {
    const body = {kind, sip_call_id: call.sipCallId, direction: call.direction, number: call.number,
      call_id: call.cardId, ...extra};
    return api("POST", "/api/desk/softphone/events", body).then((r) => r.call_id)
      .catch(() => api("POST", "/api/desk/softphone/events", body).then((r) => r.call_id).catch(() => null));
  }

  function adopt(call, callId) {
    // The card this call is shown on; without one (the server unreachable) the panel holds it.
    call.cardId = callId || null;
    call.key = callId ? String(callId) : `loose-${++looseCount}`;
    calls.set(call.key, call);
    draw(call);
  }

  function host(call) {
    const card = call.cardId ? document.querySelector(`article.pop[data-call-id="${call.cardId}"]`) : null;
    if (card) return card;
    return document.getElementById("phone-loose");
  }

  function draw(call) {
    const where = host(call);
    // Drawn in the panel before its card arrived: the card takes it over.
    for (const stale of document.querySelectorAll(`.phone-controls[data-key="${call.key}"]`)) if (!where.contains(stale)) stale.remove();
    let box = where.querySelector(`.phone-controls[data-key="${call.key}"]`);
    if (call.state === "gone") { if (box) box.remove(); return; }
    if (!box) {
      box = document.createElement("div");
      box.className = "phone-controls";
      box.dataset.key = call.key;
      box.addEventListener("click", (ev) => onControl(ev, call));
      box.addEventListener("submit", (ev) => { ev.preventDefault(); onControl(ev, call); });
      const head = where.querySelector(".pop-head");
      if (head) head.after(box); else where.append(box);
    }
    box.dataset.state = call.state;
    const live = call.state === "talking" || call.state === "held";
    box.innerHTML = `<span class="phone-call-state">${esc(T[call.state] || call.state)}</span>
      <span class="phone-timer" data-timer>${timerText(call)}</span>
      ${call.state === "incoming" ? `<button type="button" class="ok" data-phone="answer">${esc(T.answer)} <kbd>F2</kbd></button>` : ""}
      ${live ? `<button type="button" data-phone="hold" aria-pressed="${call.held}">${esc(call.held ? T.resume : T.hold)} <kbd>F8</kbd></button>
        <button type="button" data-phone="mute" aria-pressed="${call.muted}">${esc(call.muted ? T.unmute : T.mute)} <kbd>F9</kbd></button>
        <button type="button" data-phone="keypad">${esc(T.keypad)}</button>
        <form class="phone-transfer" data-phone-form="transfer"><label>${esc(T.transfer_to)} <input name="ext" inputmode="numeric" pattern="[0-9]{2,10}" size="5" required></label>
          <button type="submit" data-phone="blind">${esc(T.blind)}</button><button type="button" data-phone="consult">${esc(T.consult)}</button>
          ${call.consult ? `<button type="button" data-phone="complete">${esc(T.complete)}</button>` : ""}</form>
        <div class="phone-keypad" ${call.keypad ? "" : "hidden"}>${[..."123456789*0#"].map((d) => `<button type="button" data-dtmf="${d}">${d}</button>`).join("")}</div>` : ""}
      ${["incoming", "calling", "talking", "held"].includes(call.state) ? `<button type="button" class="danger" data-phone="hangup">${esc(T.hangup)} <kbd>F4</kbd></button>` : ""}`;
  }

  function timerText(call) {
    if (!call.answeredAt) return "";
    const s = Math.floor((Date.now() - call.answeredAt) / 1000);
    return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  }

  function onControl(ev, call) {
    const dtmf = ev.target.closest("[data-dtmf]");
    if (dtmf) { call.dtmf(dtmf.dataset.dtmf); return; }
    const button = ev.type === "submit" ? ev.target.querySelector("[data-phone=blind]") : ev.target.closest("[data-phone]");
    if (!button || (ev.type === "click" && button.type === "submit")) return;  // the form's submit acts
    const ext = (button.closest("form") || ev.target).querySelector?.("[name=ext]")?.value?.trim();
    act(call, button.dataset.phone, ext);
  }

  function act(call, what, ext) {
    try {
      if (what === "answer") call.answer(media());
      else if (what === "hangup") call.hangup();
      else if (what === "hold") { call.held = !call.held; call.hold(call.held); call.state = call.held ? "held" : "talking"; draw(call); }
      else if (what === "mute") { call.muted = !call.muted; call.mute(call.muted); draw(call); }
      else if (what === "keypad") { call.keypad = !call.keypad; draw(call); }
      else if ((what === "blind" || what === "consult") && !/^[0-9]{2,10}$/.test(ext || "")) return;
      else if (what === "blind") call.transfer(ext).then(() => transferred(call, ext));
      else if (what === "consult") {
        if (!call.held) act(call, "hold");
        call.consult = line.dial(ext, {consult: true});
        call.consultExt = ext;
        draw(call);
      } else if (what === "complete" && call.consult) call.transfer(call.consultExt, call.consult).then(() => transferred(call, call.consultExt));
    } catch (err) { problem("call_failed", {cause: err.message}); }
  }

  function transferred(call, ext) {
    call.transferredTo = ext;
    report(call, "transferred", {target: ext});
  }

  // The adapters call these as a call moves on.
  const hooks = {
    incoming(call) {
      call.state = "incoming";
      call.adopting = report(call, "ringing").then((id) => adopt(call, id));
    },
    outgoing(call) {
      call.state = "calling";
      // An internal consult call is not logged; the rest wait for their card before moving on.
      call.adopting = call.consult ? Promise.resolve(adopt(call, null)) : report(call, "ringing").then((id) => adopt(call, id));
    },
    async answered(call) {
      await call.adopting;
      call.state = "talking";
      call.answeredAt = Date.now();
      if (!call.consult) report(call, "answered");
      draw(call);
    },
    async ended(call, cause) {
      await call.adopting;
      const was = call.state;
      call.state = "gone";
      draw(call);
      calls.delete(call.key);
      if (!call.consult && !call.transferredTo) report(call, "ended");
      if (cause && was === "calling") problem("call_failed", {cause});
    },
    remoteStream(stream) {
      audio.srcObject = stream;
      audio.play().catch(() => {});
    },
    registration(ok, refused) {
      registered = ok;
      setState(ok ? "registered" : "unregistered");
      // The line's own news never hides a microphone problem: without a microphone nothing works.
      const shown = problemEl.dataset.problem || "";
      if (["mic_denied", "no_mic", "insecure"].includes(shown)) return;
      if (ok) { if (["refused", "ws_down"].includes(shown)) problem(null); } else problem(refused ? "refused" : "ws_down");
    },
  };

  // ---- watching the line: stats and one-way audio ----
  const seen = {received: -1, sent: -1, quietSince: 0};
  setInterval(async () => {
    const call = [...calls.values()].find((c) => c.state === "talking" && c.pc());
    if (!call) return;
    let got = {packetsReceived: 0, bytesReceived: 0, audioLevel: 0, packetsSent: 0};
    (await call.pc().getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") got = {...got, packetsReceived: r.packetsReceived, bytesReceived: r.bytesReceived, audioLevel: r.audioLevel || 0};
      if (r.type === "outbound-rtp" && r.kind === "audio") got.packetsSent = r.packetsSent;
    });
    got.maxLevel = Math.max(Number(statsEl.dataset.maxLevel || 0), got.audioLevel);
    Object.assign(statsEl.dataset, got);
    const flowing = got.packetsReceived > seen.received;
    if (flowing || call.held) seen.quietSince = Date.now();
    if (!flowing && got.packetsSent > seen.sent && Date.now() - seen.quietSince > 4000) problem("one_way");
    else if (flowing && problemEl.dataset.problem === "one_way") problem(null);
    seen.received = got.packetsReceived;
    seen.sent = got.packetsSent;
  }, 1000);
  setInterval(() => { for (const el of document.querySelectorAll(".phone-controls [data-timer]")) { const call = calls.get(el.closest(".phone-controls").dataset.key); if (call) el.textContent = timerText(call); } }, 1000);

  // desk.js redraws a card from scratch: put the controls back on it.
  new MutationObserver(() => { for (const call of calls.values()) if (!host(call).querySelector(`.phone-controls[data-key="${call.key}"]`)) draw(call); })
    .observe(document.getElementById("pops"), {childList: true});

  // ---- keyboard: works while typing notes, so a receptionist never reaches for the mouse ----
  document.addEventListener("keydown", (ev) => {
    const keys = {F2: "answer", F4: "hangup", F8: "hold", F9: "mute"};
    const what = keys[ev.key];
    if (!what) return;
    const list = [...calls.values()];
    const call = what === "answer" ? list.find((c) => c.state === "incoming") : list.find((c) => ["talking", "held"].includes(c.state)) || list.find((c) => c.state !== "gone");
    if (!call) return;
    ev.preventDefault();
    act(call, what);
  });

  // ---- devices and the microphone check ----
  async function listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind) => {
      const chosen = select.value || localStorage.getItem(`phone.${kind}`) || "";
      select.innerHTML = `<option value="">${esc(T.default_device)}</option>` + devices.filter((d) => d.kind === kind && d.deviceId !== "default")
        .map((d, i) => `<option value="${esc(d.deviceId)}">${esc(d.label || `${kind} ${i + 1}`)}</option>`).join("");
      select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
    };
    fill(micSelect, "audioinput");
    fill(speakerSelect, "audiooutput");
    if (!devices.some((d) => d.kind === "audioinput")) problem("no_mic");
  }
  micSelect.addEventListener("change", () => localStorage.setItem("phone.audioinput", micSelect.value));
  speakerSelect.addEventListener("change", () => {
    localStorage.setItem("phone.audiooutput", speakerSelect.value);
    if (audio.setSinkId) audio.setSinkId(speakerSelect.value).catch(() => {});
  });

  async function micCheck() {
    const meter = document.getElementById("phone-mic-level");
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia(media()); } catch (err) { micProblem(err); return false; }
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let loudest = 0;
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      analyser.getFloatTimeDomainData(samples);
      const level = Math.sqrt(samples.reduce((sum, v) => sum + v * v, 0) / samples.length);
      loudest = Math.max(loudest, level);
      meter.value = Math.min(1, level * 4);
    }
    stream.getTracks().forEach((track) => track.stop());
    context.close();
    const ok = loudest > 0.005;
    stateEl.dataset.mic = ok ? "ok" : "silent";
    problemEl.hidden = false;
    problemEl.dataset.problem = ok ? "mic_ok" : "mic_silent";
    problemEl.textContent = ok ? T.mic_ok : T.mic_silent;
    listDevices().catch(() => {});
    return ok;
  }
  function micProblem(err) {
    problem(err && err.name === "NotAllowedError" ? "mic_denied" : "no_mic");
  }
  document.getElementById("phone-mic-check").addEventListener("click", micCheck);

  // ---- start ----
  async function start() {
    try { cfg = await api("GET", "/api/desk/softphone"); } catch { return; }
    if (cfg.kind === "off") { if (cfg.unreadable) { panel.hidden = false; problem("unreadable"); } return; }
    panel.hidden = false;
    // A phone that cannot start says so and stays "off": not "connecting…" for ever, and no
    // microphone prompt whose answer would cover the real reason.
    if (!navigator.mediaDevices) { problem("insecure"); return; }
    const adapter = cfg.kind === "twilio" ? window.DeskPhoneTwilio : window.DeskPhoneSip;
    if (!adapter || (cfg.kind === "sip" && !window.JsSIP) || (cfg.kind === "twilio" && !window.Twilio)) { problem("missing"); return; }
    setState("connecting");
    listDevices().catch(() => {});
    navigator.mediaDevices.getUserMedia({audio: true}).then((s) => { s.getTracks().forEach((t) => t.stop()); listDevices(); }, micProblem);
    line = adapter.start(cfg, hooks, {api, media});
  }

  window.DeskPhone = {
    ready: () => registered && line !== null,
    async dial(body) {
      const cleared = await api("POST", "/api/desk/softphone/dial", body);
      line.dial(cleared.number, {ticket: cleared.ticket});
    },
    micCheck,
  };
  start();
})();
