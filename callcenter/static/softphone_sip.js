// The browser phone's SIP line (JsSIP over the PBX's WebSocket) for softphone.js: registers,
// turns JsSIP sessions into the calls softphone.js draws, and transfers by REFER (blind, or
// with Replaces after asking the other desk first).
(() => {
  "use strict";
  function start(cfg, hooks, kit) {
    const ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(cfg.ws)], uri: cfg.uri, password: cfg.password,
      authorization_user: cfg.user, display_name: cfg.name, register: true, session_timers: false,
      register_expires: 300, connection_recovery_min_interval: 2, connection_recovery_max_interval: 30,
    });
    const pcConfig = {iceServers: []};
    const target = (ext) => `sip:${ext}@${cfg.domain}`;

    function wrap(session, direction, extra = {}) {
      const request = session._request || session.request;
      const call = {
        session, direction, consult: Boolean(extra.consult), held: false, muted: false,
        sipCallId: request ? request.call_id : session.id,
        number: session.remote_identity ? session.remote_identity.uri.user : "",
        answer: (constraints) => session.answer({mediaConstraints: constraints, pcConfig}),
        hangup: () => session.terminate(),
        hold: (on) => (on ? session.hold() : session.unhold()),
        mute: (on) => (on ? session.mute({audio: true}) : session.unmute({audio: true})),
        dtmf: (digit) => session.sendDTMF(digit),
        pc: () => session.connection,
        transfer: (ext, consult) => new Promise((resolve, reject) => {
          // Put through once the far end takes the REFER (202); this leg ends when its new call
          // is answered (NOTIFY 200).
          const options = {eventHandlers: {
            requestSucceeded: () => resolve(),
            accepted: () => session.terminate(),
            requestFailed: (e) => reject(new Error(e.cause || "REFER refused")),
            failed: (e) => reject(new Error(e.status_line ? e.status_line.reason_phrase : "transfer failed")),
          }};
          if (consult) options.replaces = consult.session;
          session.refer(target(ext), options);
        }),
      };
      session.on("peerconnection", (e) => watch(e.peerconnection));
      if (session.connection) watch(session.connection);
      session.on("confirmed", () => hooks.answered(call));
      session.on("ended", () => hooks.ended(call));
      session.on("failed", (e) => hooks.ended(call, e.cause));
      // The other desk asked this one first and put the caller through: the caller's new call
      // replaces this one and is answered at once (this desk already said yes).
      session.on("replaces", (e) => e.accept((next) => { next.deskReplaces = true; }));
      return call;
    }

    function watch(pc) {
      pc.addEventListener("track", (ev) => hooks.remoteStream(ev.streams[0]));
    }

    ua.on("registered", () => hooks.registration(true));
    ua.on("unregistered", () => hooks.registration(false));
    ua.on("registrationFailed", (e) => hooks.registration(false, e.cause === JsSIP.C.causes.AUTHENTICATION_ERROR || e.cause === JsSIP.C.causes.REJECTED));
    ua.on("disconnected", () => hooks.registration(false));
    ua.on("newRTCSession", (e) => {
      if (e.originator !== "remote") return;
      const call = wrap(e.session, "inbound");
      hooks.incoming(call);
      if (e.session.deskReplaces) call.answer(kit.media());
    });
    ua.start();
    window.addEventListener("pagehide", () => ua.stop());

    return {
      dial(number, extra = {}) {
        const session = ua.call(target(String(number).replace(/^\+/, "")), {
          mediaConstraints: kit.media(), pcConfig, rtcOfferConstraints: {offerToReceiveAudio: true}});
        const call = wrap(session, "outbound", extra);
        call.number = String(number);
        hooks.outgoing(call);
        return call;
      },
    };
  }
  window.DeskPhoneSip = {start};
})();
