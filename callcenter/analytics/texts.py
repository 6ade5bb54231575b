"""Dashboard texts by the report keys that pick them: column labels, section titles, the
definitions shown as tooltips. Marked for extraction here, translated where shown."""

from __future__ import annotations

from callcenter.core.i18n import N_, NP_, Text

COLUMNS: dict[str, Text] = {
    "period": NP_("report column", "Period"),
    "hour": NP_("report column", "Hour"),
    "weekday": NP_("report column", "Weekday"),
    "month": NP_("report column", "Month"),
    "channel": NP_("report column", "Channel"),
    "tracking_number": NP_("report column", "Number"),
    "tracking_channel": NP_("report column", "Channel by number"),
    "heard_channel": NP_("report column", "Caller said"),
    "calls": NP_("report column", "Calls"),
    "unique_callers": NP_("report column", "Unique callers"),
    "first_time_callers": NP_("report column", "New (leads)"),
    "answered": NP_("report column", "Answered"),
    "missed": NP_("report column", "Missed"),
    "missed_share": NP_("report column", "Missed share"),
    "bookings": NP_("report column", "Bookings"),
    "arrivals": NP_("report column", "Arrivals"),
    "revenue": NP_("report column", "Revenue"),
    "booking_rate": NP_("report column", "Booked / calls"),
    "arrival_rate": NP_("report column", "Came / calls"),
    "show_rate": NP_("report column", "Came / booked"),
    "receptionist": NP_("report column", "Receptionist"),
    "taken": NP_("report column", "Taken"),
    "avg_answer_seconds": NP_("report column", "Answer speed, s"),
    "callbacks": NP_("report column", "Call-backs"),
    "avg_callback_minutes": NP_("report column", "Call-back after, min"),
    "called_back": NP_("report column", "Called back"),
    "caller_called_again": NP_("report column", "Caller rang again"),
    "open": NP_("report column", "Still open"),
    "called_back_share": NP_("report column", "Called back share"),
    "invitations": NP_("report column", "Came"),
    "target": NP_("report column", "Target"),
    "achieved": NP_("report column", "Of target"),
    "campaign": NP_("report column", "Campaign"),
    "purpose": NP_("report column", "Purpose"),
    "tasks": NP_("report column", "Tasks"),
    "reached": NP_("report column", "Reached"),
    "reached_rate": NP_("report column", "Reached share"),
    "confirmed": NP_("report column", "Confirmed"),
    "confirmation_rate": NP_("report column", "Confirmation rate"),
    "cancellations_caught": NP_("report column", "Cancellations caught"),
    "booked": NP_("report column", "Booked"),
    "booked_rate": NP_("report column", "Booked share"),
    "confirmed_by_call": NP_("report column", "Confirmed by call"),
    "confirmed_by_text": NP_("report column", "Confirmed by text"),
    "confirmed_by_both": NP_("report column", "Confirmed both ways"),
    "texts_sent": NP_("report column", "Texts sent"),
    "delivered": NP_("report column", "Delivered"),
    "delivery_failures": NP_("report column", "Not delivered"),
    "replies": NP_("report column", "Replies"),
    "opt_outs": NP_("report column", "Opted out"),
    "segments": NP_("report column", "Segments"),
    "cost": NP_("report column", "Cost"),
}

SECTIONS: dict[str, str] = {
    "funnel": N_("Funnel"),
    "periods": N_("Calls and bookings over time"),
    "channels": N_("By channel (tracking number)"),
    "tracking_numbers": N_("By tracking number"),
    "heard_from": N_("By \"how did you hear about us\""),
    "disagreements": N_("Where the number and the answer disagree"),
    "hours": N_("Hour of day"),
    "weekdays": N_("Weekday"),
    "receptionists": N_("Receptionists"),
    "callbacks": N_("Missed calls and call-backs"),
    "invitations": N_("Phone invitations that came to the clinic (monthly KPI)"),
    "campaigns": N_("Outbound campaigns"),
    "texts": N_("Text messages"),
}

GROUPS: dict[str, str] = {
    "day": N_("day"),
    "week": N_("week"),
    "month": N_("month"),
}

PURPOSES: dict[str, Text] = {
    "confirmation": NP_("campaign purpose", "confirmation"),
    "follow_up": NP_("campaign purpose", "follow-up"),
    "recall": NP_("campaign purpose", "recall"),
    "no_show": NP_("campaign purpose", "no-show"),
    "missed_call": NP_("campaign purpose", "missed call"),
    "reschedule": NP_("campaign purpose", "reschedule"),
    "call_back": NP_("campaign purpose", "agreed call-back"),
    "gap_fill": NP_("campaign purpose", "free slot offer"),
}

DEFINITIONS: dict[str, str] = {
    "calls": N_("An inbound call to the clinic that started in the period (internal and outbound calls are not counted)."),
    "unique_callers": N_("Different phone numbers among those calls; each call from a hidden number counts as a caller of its own."),
    "first_time_callers": N_("Callers whose number matched no patient card and had never called before: new leads."),
    "answered": N_("A receptionist picked the call up."),
    "missed": N_("The call ended without anyone picking up."),
    "bookings": N_("Appointments credited to a call in the period: made on the call, or booked for a patient with the caller's number (a family number counts for every member) within the window after the call. Each booking counts once, for the latest such call; a moved appointment is not a new booking."),
    "arrivals": N_("Those bookings where the patient came (arrived or treated)."),
    "revenue": N_("Sum of the prices of those visits, where a price is recorded."),
    "booking_rate": N_("Bookings divided by calls."),
    "arrival_rate": N_("Arrivals divided by calls."),
    "show_rate": N_("Arrivals divided by bookings."),
    "channel": N_("The advertising channel of the tracking number the caller dialed."),
    "heard_channel": N_("The channel the caller named when asked how they heard of the clinic."),
    "avg_answer_seconds": N_("Average seconds from the first ring to the answer."),
    "callbacks": N_("Missed calls this receptionist called back, and the average delay after the missed call."),
    "invitations": N_("Visits in the month (the patient came) whose booking is credited to a call this receptionist handled, inbound or outbound."),
    "reached_rate": N_("Tasks where the person was reached (any result but not reached or wrong number)."),
    "confirmation_rate": N_("Confirmation calls that ended with the visit confirmed."),
    "cancellations_caught": N_("Confirmation calls where the patient cancelled or moved the visit, so the slot can be filled."),
    "booked_rate": N_("Recall, follow-up and no-show tasks that ended with a booking (or a new time)."),
    "confirmed_by_call": N_("Visits in the period the patient confirmed on a confirmation call and not by text."),
    "confirmed_by_text": N_("Visits in the period the patient confirmed by replying to the reminder text and not on a call."),
    "confirmed_by_both": N_("Visits in the period the patient confirmed both on a call and by text."),
    "texts_sent": N_("Texts written in the period that the provider took (delivered, on their way, or lost by the carrier)."),
    "delivery_failures": N_("Texts the carrier could not deliver or the provider refused."),
    "replies": N_("Texts patients sent to the clinic in the period."),
    "opt_outs": N_("Replies asking for no more texts (STOP, СТОП, 退订 or the provider's own opt-out)."),
    "cost": N_("What the texts sent cost: the provider's price where it reported one, else segments times CALLCENTER_SMS_PRICE."),
}

# What an empty channel means, by the row's "line" (funnel.LINES): never "no tracking number"
# for a call that did dial one.
LINE_LABELS: dict[str, str] = {
    "main_line": N_("main line"), "no_channel": N_("number without a channel"),
    "no_number": N_("no tracking number"),
}
# What a cell shows when a report's grouping value is missing: (report or "" for any, column).
NONE_LABEL: dict[tuple[str, str], str] = {
    ("", "channel"): N_("no tracking number"), ("", "tracking_number"): N_("no tracking number"),
    ("heard_from", "channel"): N_("not asked / no answer"), ("", "receptionist"): N_("rang the whole desk"),
    ("", "campaign"): N_("desk tasks"),
}
