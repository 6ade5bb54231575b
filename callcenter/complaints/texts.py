"""Names of complaint subjects, severities, states and non-patient purposes (pages and
complaints.js share them), and complaints.js's own texts."""

from __future__ import annotations

from callcenter.core.i18n import N_, NP_, Text, t

LABELS: dict[str, str | Text] = {
    "subject.doctor": NP_("complaint about", "A doctor"),
    "subject.service": NP_("complaint about", "A service"),
    "subject.waiting": NP_("complaint about", "Waiting"),
    "subject.billing": NP_("complaint about", "Billing"),
    "subject.staff": NP_("complaint about", "Staff"),
    "subject.other": NP_("complaint about", "Something else"),
    "severity.low": NP_("complaint severity", "Minor"),
    "severity.medium": NP_("complaint severity", "Serious"),
    "severity.high": NP_("complaint severity", "Urgent"),
    "status.open": NP_("complaint status", "Open"),
    "status.answered": NP_("complaint status", "Answered"),
    "status.closed": NP_("complaint status", "Closed"),
    "purpose.vendor": NP_("non-patient purpose", "Supplier"),
    "purpose.advertising": NP_("non-patient purpose", "Advertising"),
    "purpose.partner": NP_("non-patient purpose", "Partner"),
    "purpose.job": NP_("non-patient purpose", "Looking for a job"),
    "purpose.other": NP_("non-patient purpose", "Other business"),
    "kind.extension": NP_("non-patient route", "Put through to an extension"),
    "kind.phone": NP_("non-patient route", "Connect by click-to-call"),
    "kind.message": NP_("non-patient route", "Message for the director"),
}

DESK_TEXTS: dict[str, str | Text] = {
    "complaint": N_("Record a complaint"),
    "about": N_("About"),
    "severity": N_("Severity"),
    "words": N_("The patient's words"),
    "save_complaint": N_("Save the complaint"),
    "recorded": N_("Recorded; owner: {owner}, report back by {due}"),
    "complaints_here": N_("Complaints on this call"),
    "not_patient": N_("Not a patient"),
    "organisation": N_("Organisation"),
    "email": N_("E-mail"),
    "mark": N_("Mark as not a patient"),
    "route_to": N_("Route to {person}"),
    "transfer_ext": N_("Put through to extension {target}, then press Done"),
    "done": N_("Done: put through"),
    "call_person": N_("Call {person}"),
    "message_hint": N_("Ask for an e-mail and leave a message for the director"),
    "message_text": N_("What it is about"),
    "send_message": N_("Leave the message"),
    "message_sent": N_("Message left for the director"),
    "no_route": N_("No route is set for this purpose: ask the manager"),
    "transferred": N_("Put through"),
    "report_back": N_("Call the patient back about a complaint"),
    "overdue": N_("overdue"),
    "open_list": N_("Complaints"),
}


def label(key: str, locale: str) -> str:
    return t(LABELS[key], locale)


def desk_texts(locale: str) -> dict[str, str]:
    return {key: t(message, locale) for key, message in {**LABELS, **DESK_TEXTS}.items()}
