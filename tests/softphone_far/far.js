// A bare JsSIP phone for tests: the "other browser" end of a call. Query string: ws, user, and
// either call=<target> (dial at once) or nothing (answer whatever rings). It follows a REFER
// (a blind or attended transfer) and shows its state and inbound audio in the page.
(() => {
  "use strict";
  const q = new URLSearchParams(location.search);
  const state = document.getElementById("state");
  const ua = new JsSIP.UA({sockets: [new JsSIP.WebSocketInterface(q.get("ws"))],
    uri: `sip:${q.get("user")}@127.0.0.1`, register: true, session_timers: false});
  let current = null;
  const media = {mediaConstraints: {audio: true, video: false}, pcConfig: {iceServers: []}};
  function follow(session) {
    current = session;
    session.on("confirmed", () => { state.textContent = "talking"; });
    session.on("ended", () => { if (current === session) state.textContent = "ended"; });
    session.on("failed", (e) => { if (current === session) state.textContent = `failed ${e.cause}`; });
    session.on("refer", (e) => {
      document.getElementById("refer").textContent = e.request.refer_to.uri.user;
      e.accept((next) => follow(next), media);
    });
    session.on("peerconnection", (e) => e.peerconnection.addEventListener("track", (ev) => {
      const audio = new Audio(); audio.srcObject = ev.streams[0]; audio.play().catch(() => {});
    }));
  }
  ua.on("registered", () => {
    state.textContent = "registered";
    if (q.get("call")) follow(ua.call(`sip:${q.get("call")}@127.0.0.1`, media));
  });
  ua.on("newRTCSession", (e) => {
    if (e.originator !== "remote") return;
    follow(e.session);
    e.session.answer(media);
  });
  setInterval(async () => {
    const pc = current && current.connection;
    if (!pc) return;
    let received = 0;
    (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "audio") received += r.packetsReceived; });
    document.getElementById("stats").textContent = String(received);
  }, 500);
  ua.start();
  window.addEventListener("pagehide", () => ua.stop());
})();
