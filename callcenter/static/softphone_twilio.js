// The browser phone's Twilio line (Voice JavaScript SDK, vendor/twilio-voice.js) for
// softphone.js: an access token from the service, renewed before it expires; calls out go to the
// TwiML app with the number and the dial rules' ticket; a transfer dials the other desk's
// extension through the same app (Twilio has no REFER for a browser client).
(() => {
  "use strict";
  function start(cfg, hooks, kit) {
    let device = null;

    async function token() { return (await kit.api("POST", "/api/desk/softphone/token", {})).token; }

    function wrap(twilioCall, direction, extra = {}) {
      const call = {
        direction, consult: Boolean(extra.consult), held: false, muted: false,
        sipCallId: twilioCall.parameters.CallSid || "",
        number: direction === "inbound" ? twilioCall.parameters.From || "" : extra.number || "",
        answer: () => twilioCall.accept(),
        hangup: () => (direction === "inbound" && twilioCall.status() === "pending" ? twilioCall.reject() : twilioCall.disconnect()),
        // Twilio's SDK holds nothing itself: silence both ways (the PBX side keeps the line).
        hold: (on) => { twilioCall.mute(on); },
        mute: (on) => twilioCall.mute(on),
        dtmf: (digit) => twilioCall.sendDigits(digit),
        pc: () => (twilioCall._mediaHandler && twilioCall._mediaHandler.version ? twilioCall._mediaHandler.version.pc : null),
        transfer: async (ext) => { device.connect({params: {To: ext}}); twilioCall.disconnect(); },
      };
      twilioCall.on("accept", () => {
        if (!call.sipCallId) call.sipCallId = twilioCall.parameters.CallSid || "";
        hooks.answered(call);
      });
      twilioCall.on("disconnect", () => hooks.ended(call));
      twilioCall.on("cancel", () => hooks.ended(call));
      twilioCall.on("reject", () => hooks.ended(call));
      twilioCall.on("error", (e) => hooks.ended(call, e.message));
      return call;
    }

    (async () => {
      try {
        device = new Twilio.Device(await token(), {closeProtection: true, codecPreferences: ["opus", "pcmu"]});
      } catch (err) { hooks.registration(false, true); return; }
      device.on("registered", () => hooks.registration(true));
      device.on("unregistered", () => hooks.registration(false));
      device.on("error", (e) => hooks.registration(false, e && e.code >= 20100 && e.code < 20200));
      device.on("tokenWillExpire", async () => device.updateToken(await token()));
      device.on("incoming", (twilioCall) => hooks.incoming(wrap(twilioCall, "inbound")));
      device.register();
    })();
    window.addEventListener("pagehide", () => { if (device) device.destroy(); });

    return {
      dial(number, extra = {}) {
        const params = extra.consult ? {To: number} : {To: number, ticket: extra.ticket || ""};
        const placeholder = {parameters: {}, on() {}, status: () => "connecting"};
        const call = wrap(placeholder, "outbound", {...extra, number});
        device.connect({params}).then((twilioCall) => {
          Object.assign(call, wrap(twilioCall, "outbound", {...extra, number}));
          // The CallSid (the row Twilio's status callbacks write to) is known once it rings.
          twilioCall.on("ringing", () => { call.sipCallId = twilioCall.parameters.CallSid || ""; hooks.outgoing(call); });
        });
        return call;
      },
    };
  }
  window.DeskPhoneTwilio = {start};
})();
