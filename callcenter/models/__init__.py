"""SQLAlchemy models, split by aggregate; import from here."""

from .access import StaffSession
from .audit import AuditLog
from .base import Base, UTCDateTime, utcnow
from .calls import (
    Call,
    CallCandidate,
    CallDirection,
    CallerKind,
    CallEventRecord,
    CallOutcome,
    CallStatus,
    Channel,
    RawState,
    RawWebhook,
    TrackingNumber,
    WebhookBinding,
)
from .care import ACTIVE_STATUSES, Appointment, AppointmentStatus, Treatment, TreatmentType
from .clinic import WEEKDAYS, Clinic, DayOff, DoctorSchedule, Staff, StaffClinic, StaffRole
from .outbound import (
    Campaign,
    CampaignState,
    DialAttempt,
    DialMode,
    DialTask,
    OptOut,
    TaskPurpose,
    TaskState,
)
from .patients import Patient, PatientPhone, Sex

__all__ = [
    "ACTIVE_STATUSES",
    "WEEKDAYS",
    "Appointment",
    "AppointmentStatus",
    "AuditLog",
    "Base",
    "Call",
    "CallCandidate",
    "CallDirection",
    "CallEventRecord",
    "CallOutcome",
    "CallStatus",
    "CallerKind",
    "Campaign",
    "CampaignState",
    "Channel",
    "Clinic",
    "DayOff",
    "DialAttempt",
    "DialMode",
    "DialTask",
    "DoctorSchedule",
    "OptOut",
    "Patient",
    "PatientPhone",
    "RawState",
    "RawWebhook",
    "Sex",
    "Staff",
    "StaffClinic",
    "StaffRole",
    "StaffSession",
    "TaskPurpose",
    "TaskState",
    "TrackingNumber",
    "Treatment",
    "TreatmentType",
    "UTCDateTime",
    "WebhookBinding",
    "utcnow",
]
