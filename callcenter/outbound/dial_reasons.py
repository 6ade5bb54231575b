"""Why an automatic call ended the way it did, in words an admin can act on.

A dialer ends a failed attempt with a `Reason` (and the PBX's SIP status when it sent one); the
attempt keeps both, the campaign page shows them in the admin's language, and a reason that is
the line's fault rather than the patient's (`STOPS_CAMPAIGN`) pauses the campaign with it.
"""

from __future__ import annotations

import enum

from callcenter.core.i18n import N_, t
from callcenter.outbound.results import Outcome


class Reason(enum.StrEnum):
    AUTH_FAILED = "auth_failed"  # the PBX refused the account's name or password
    REGISTRATION_REJECTED = "registration_rejected"
    REGISTRATION_TIMEOUT = "registration_timeout"
    FORBIDDEN = "forbidden"  # 403 to the INVITE
    NOT_FOUND = "not_found"  # 404, 484, 604
    BUSY = "busy"  # 486, 600
    DECLINED = "declined"  # 603
    UNAVAILABLE = "unavailable"  # 5xx: the PBX or its trunk
    REJECTED = "rejected"  # any other final failure
    NO_ANSWER = "no_answer"  # rang out (or 408, 480, 487)
    INVITE_TIMEOUT = "invite_timeout"  # the PBX never answered the INVITE
    HUNG_UP = "hung_up"  # the patient hung up before pressing a key
    NO_KEY = "no_key"  # answered, no key pressed within the talk time
    NETWORK = "network_error"
    NOT_CONFIGURED = "dialer_not_configured"  # the dialer's settings are missing: it cannot start


class DialFailure(Exception):
    """A dial (or a registration) ended for `reason`; `status` is the PBX's SIP code if any."""

    def __init__(self, reason: Reason, status: int | None = None, detail: str = "") -> None:
        super().__init__(f"{reason.value}{f' (SIP {status})' if status else ''}{f': {detail}' if detail else ''}")
        self.reason = reason
        self.status = status
        self.detail = detail


STOPS_CAMPAIGN = frozenset({Reason.NOT_CONFIGURED, Reason.AUTH_FAILED, Reason.REGISTRATION_REJECTED,
                            Reason.REGISTRATION_TIMEOUT})
OUTCOMES = {Reason.BUSY: Outcome.BUSY, Reason.DECLINED: Outcome.BUSY,
            Reason.NO_ANSWER: Outcome.NO_ANSWER, Reason.HUNG_UP: Outcome.HUNG_UP,
            Reason.NO_KEY: Outcome.HUNG_UP}
LABELS = {
    Reason.NOT_CONFIGURED: N_("Automatic calls are not set up (Twilio or SIP settings are missing): set "
                              "them up, or switch the list to the desk, then resume"),
    Reason.AUTH_FAILED: N_("The PBX refused the SIP account: check its user name and password"),
    Reason.REGISTRATION_REJECTED: N_("The PBX refused the SIP registration (SIP {status})"),
    Reason.REGISTRATION_TIMEOUT: N_("The PBX did not answer the SIP registration in time"),
    Reason.FORBIDDEN: N_("The PBX does not let this account call out (SIP 403)"),
    Reason.NOT_FOUND: N_("The PBX does not know the number (SIP {status})"),
    Reason.BUSY: N_("Busy"),
    Reason.DECLINED: N_("The call was declined"),
    Reason.UNAVAILABLE: N_("The PBX or its line is unavailable (SIP {status})"),
    Reason.REJECTED: N_("The PBX refused the call (SIP {status})"),
    Reason.NO_ANSWER: N_("No answer"),
    Reason.INVITE_TIMEOUT: N_("The PBX did not answer the call request in time"),
    Reason.HUNG_UP: N_("Hung up before pressing a key"),
    Reason.NO_KEY: N_("Answered, no key pressed"),
    Reason.NETWORK: N_("Network error reaching the PBX"),
}


def for_status(status: int) -> Reason:
    """The reason of a final failure response to an INVITE."""
    if status in (486, 600):
        return Reason.BUSY
    if status == 603:
        return Reason.DECLINED
    if status in (408, 480, 487):
        return Reason.NO_ANSWER
    if status == 403:
        return Reason.FORBIDDEN
    if status in (404, 484, 604):
        return Reason.NOT_FOUND
    if status >= 500:
        return Reason.UNAVAILABLE
    return Reason.REJECTED


def outcome(reason: Reason) -> Outcome:
    return OUTCOMES.get(reason, Outcome.FAILED)


def describe(reason: str, status: int | None, locale: str) -> str:
    """The reason in the reader's language; a code this version does not know is shown as is."""
    try:
        label = LABELS[Reason(reason)]
    except ValueError:
        return reason
    return t(label, locale).format(status=status or "?")
