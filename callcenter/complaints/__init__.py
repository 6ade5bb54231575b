"""Complaints (recorded, routed to an owner, answered, reported back) and callers who are not
patients (an organisation's number, routed to the right person)."""
