"""The refusals of the schedule's rules: 409 JSON naming the field to fix, in the staff member's
language. `code` tells a desk what happened without reading the message."""

from __future__ import annotations

from callcenter.core.inputs import FieldError


class BookingError(FieldError, ValueError):
    """A desk action the rules refuse; `field` names what to fix."""

    code = "rejected"

    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(field, message, 409, **params)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SlotTaken(BookingError):
    """The doctor's time is held by another visit (booked earlier, or a moment ago elsewhere)."""

    code = "slot_taken"


class AlreadyBooked(BookingError):
    """A repeated booking of the same call for the same patient: the first one stands."""

    code = "already_booked"

    def __init__(self, field: str, message: str, appointment_id: int, **params: object) -> None:
        super().__init__(field, message, **params)
        self.appointment_id = appointment_id
