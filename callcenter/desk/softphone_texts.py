"""The browser phone's words (static/softphone.js), in the receptionist's language: its buttons,
its states, and each problem with what to do about it."""

from __future__ import annotations

from callcenter.core.i18n import N_, NP_, t

TEXTS = {
    "phone": N_("Phone"),
    "state.off": N_("no browser phone"),
    "state.connecting": N_("connecting…"),
    "state.registered": N_("ready"),
    "state.unregistered": N_("not registered"),
    "answer": N_("Answer"),
    "hangup": N_("Hang up"),
    "hold": N_("Hold"),
    "resume": N_("Resume"),
    "mute": N_("Mute"),
    "unmute": N_("Unmute"),
    "keypad": N_("Keypad"),
    "transfer": N_("Transfer"),
    "transfer_to": N_("Extension"),
    "blind": NP_("transfer button", "Put through"),
    "consult": N_("Ask first"),
    "complete": N_("Complete transfer"),
    "incoming": N_("Incoming call"),
    "calling": N_("Calling…"),
    "talking": N_("Talking"),
    "on_hold": N_("On hold"),
    "ended": N_("Call ended"),
    "transferred": N_("Transferred"),
    "microphone": N_("Microphone"),
    "speaker": N_("Speaker"),
    "default_device": N_("Default"),
    "mic_check": N_("Check microphone"),
    "mic_ok": N_("The microphone works"),
    "mic_silent": N_("No sound from the microphone: check the headset's plug and mute switch"),
    "problem.mic_denied": N_("The browser may not use the microphone. Click the lock icon in the address "
                             "bar, allow the microphone, then reload the page."),
    "problem.no_mic": N_("No microphone found. Plug in the headset, then press Check microphone."),
    "problem.ws_down": N_("The phone lost its connection to the PBX: calls cannot ring here. It reconnects by "
                          "itself; if this stays, check the network or call your administrator."),
    "problem.refused": N_("The PBX refused this desk's phone (wrong SIP user or password). Ask your "
                          "administrator to check the browser phone on the staff page."),
    "problem.one_way": N_("One-way audio suspected: no sound is arriving from the other side. Ask the caller "
                          "to speak; if it stays silent, call back and tell your administrator (firewall "
                          "or NAT)."),
    "problem.insecure": N_("The browser phone needs the desk opened over https."),
    "problem.missing": N_("The browser phone's files are missing: the administrator runs ./run setup."),
    "problem.unreadable": N_("This desk's phone settings cannot be read (the secret key changed): ask your "
                             "administrator to enter the SIP password again."),
    "problem.call_failed": N_("The call did not go through: {cause}"),
    "key.answer": N_("Answer the ringing call"),
    "key.hangup": N_("Hang up"),
    "key.hold": N_("Hold or resume"),
    "key.mute": N_("Mute or unmute"),
}


def phone_texts(locale: str) -> dict[str, str]:
    return {key: t(english, locale) for key, english in TEXTS.items()}
