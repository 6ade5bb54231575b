"""SQLAlchemy models, split by aggregate; import from here."""

from callcenter.core.models.access import FirstRun, StaffSession
from callcenter.core.models.audit import AuditLog
from callcenter.core.models.base import Base, UTCDateTime, utcnow
from callcenter.core.models.calls import (
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
from callcenter.core.models.care import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Treatment,
    TreatmentType,
)
from callcenter.core.models.catalog import Service
from callcenter.core.models.clinic import (
    WEEKDAYS,
    AbsenceKind,
    Clinic,
    DayOff,
    DoctorAbsence,
    DoctorSchedule,
    Staff,
    StaffClinic,
    StaffRole,
)
from callcenter.core.models.exchange import ExternalRef, ImportJob, ImportProfile
from callcenter.core.models.outbound import (
    Campaign,
    CampaignState,
    DialAttempt,
    DialMode,
    DialTask,
    OptOut,
    TaskPurpose,
    TaskState,
)
from callcenter.core.models.patients import Patient, PatientPhone, Sex
from callcenter.core.models.pbx import PbxAccount

__all__ = [
    "ACTIVE_STATUSES",
    "WEEKDAYS",
    "AbsenceKind",
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
    "DoctorAbsence",
    "DoctorSchedule",
    "ExternalRef",
    "FirstRun",
    "ImportJob",
    "ImportProfile",
    "OptOut",
    "Patient",
    "PatientPhone",
    "PbxAccount",
    "RawState",
    "RawWebhook",
    "Service",
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
