"""Staff accounts as an administrator manages them: create, edit, deactivate and reactivate,
reset a password. Every change is checked whole before anything is written, and each refusal
names the field to fix (a `FieldError` whose message is translated where it is shown).

The session passed in is the administrator's, scoped to their clinics: a staff member they
cannot see is not there, and they can grant only the clinics of their scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from callcenter.access import softphone_accounts, staff_accounts
from callcenter.access.audit import record as audit
from callcenter.access.passwords import hash_password
from callcenter.core import clinic_scope
from callcenter.core.config import LOCALES
from callcenter.core.i18n import N_
from callcenter.core.inputs import FieldError, limit, problem
from callcenter.core.models import Staff, StaffClinic, StaffRole
from callcenter.core.specialties import unknown as unknown_specialties

# What PBXs number desks with: digits, as dialed (3CX, Asterisk and Yeastar use 2-6 digits).
EXTENSION = re.compile(r"[0-9]{2,10}")
LOGIN = re.compile(r"[A-Za-z0-9._@-]{2,80}")
NAME_FIELDS = {"last_name": Staff.last_name, "first_name": Staff.first_name,
               "patronymic": Staff.patronymic}


@dataclass
class StaffInput:
    """A staff form as typed (strings and lists from the form), before any check."""

    role: str = ""
    login: str = ""
    last_name: str = ""
    first_name: str = ""
    patronymic: str = ""
    locale: str = ""
    sip_extension: str = ""
    clinic_ids: list[str] = field(default_factory=list)
    specialties: list[str] = field(default_factory=list)
    password: str = ""  # a new account's temporary password

    @classmethod
    def from_form(cls, form: Mapping[str, str], lists: Mapping[str, list[str]]) -> StaffInput:
        """From a submitted form: `form` gives single values, `lists` the repeated ones."""
        return cls(**{name: form.get(name, "").strip() for name in (
            "role", "login", "last_name", "first_name", "patronymic", "locale", "sip_extension")},
            clinic_ids=lists.get("clinic_ids", []), specialties=lists.get("specialties", []),
            password=form.get("password", ""))

    @classmethod
    def of(cls, staff: Staff, clinic_ids: Iterable[int]) -> StaffInput:
        """The form as it stands for an existing staff member."""
        return cls(role=str(staff.role), login=staff.login or "", last_name=staff.last_name,
                   first_name=staff.first_name, patronymic=staff.patronymic, locale=staff.locale,
                   sip_extension=staff.sip_extension or "", clinic_ids=[str(i) for i in clinic_ids],
                   specialties=list(staff.specialties or []))


class Refused(Exception):
    """One or more fields to fix; nothing was written."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    def by_field(self) -> dict[str, FieldError]:
        return {e.field: e for e in self.errors}

    @property
    def status(self) -> int:
        """404 when a field names another clinic's record (answered like a missing one), else 400."""
        return max((e.status for e in self.errors), default=400)


def visible_staff(db: Session, *, doctors: bool | None = None) -> list[Staff]:
    """Everyone the administrator's scope shows, active first, by name; doctors only (True),
    everyone but doctors (False) or all (None)."""
    query = select(Staff).order_by(Staff.active.desc(), Staff.last_name, Staff.first_name, Staff.id)
    if doctors is not None:
        query = query.where((Staff.role == StaffRole.DOCTOR) if doctors
                            else (Staff.role != StaffRole.DOCTOR))
    return list(db.scalars(query))


def clinics_of(db: Session, staff: Staff) -> list[int]:
    """The staff member's clinics, their own first (what the scope shows of them)."""
    more = db.scalars(select(StaffClinic.clinic_id).where(StaffClinic.staff_id == staff.id)
                      .order_by(StaffClinic.clinic_id))
    return [staff.clinic_id, *(c for c in more if c != staff.clinic_id)]


def _scope(db: Session) -> frozenset[int]:
    scope = clinic_scope.current(db)
    return scope.clinic_ids if scope is not None else frozenset()


def manageable(db: Session, staff: Staff) -> bool:
    """An administrator manages a staff member whose every clinic is theirs: one who also works
    in another administrator's clinic is that administrator's too, and is changed by either only
    where both agree (the network administrator, who holds both)."""
    scope = clinic_scope.current(db)
    if scope is None:  # the CLI and the worker are installation-wide
        return True
    all_theirs = db.scalars(select(StaffClinic.clinic_id).where(StaffClinic.staff_id == staff.id))
    return {staff.clinic_id, *all_theirs} <= scope.clinic_ids


def _text(value: str, column: QueryableAttribute[str], name: str, errors: list[FieldError], *,
          required: bool) -> str:
    if not value:
        if required:
            errors.append(FieldError(name, N_("Required")))
        return value
    reason = problem(value)
    most = limit(column)
    if reason is not None:
        errors.append(FieldError(name, reason))
    elif len(value) > most:
        errors.append(FieldError(name, N_("Longer than {most} characters"), most=most))
    return value


def _clinics(db: Session, raw: list[str], errors: list[FieldError]) -> list[int]:
    ids: list[int] = []
    for item in raw:
        if not item.isdigit() or len(item) > 12:
            errors.append(FieldError("clinic_ids", N_("Not a clinic: {value}"), value=item[:20]))
            return []
        ids.append(int(item))
    if not ids:
        errors.append(FieldError("clinic_ids", N_("Choose at least one clinic")))
    outside = [i for i in ids if i not in _scope(db)]
    if outside:
        # Another clinic's id reads like one that does not exist, here as everywhere.
        errors.append(FieldError("clinic_ids", N_("You do not administer clinic {value}"),
                                 status=404, value=outside[0]))
    return list(dict.fromkeys(ids))


def _login_taken(db: Session, login: str, staff_id: int | None) -> bool:
    # Logins are global (sign-in asks no clinic), so the check looks past the scope.
    query = select(Staff.id).where(func.lower(Staff.login) == login.lower())
    if staff_id is not None:
        query = query.where(Staff.id != staff_id)
    return db.scalar(query.limit(1).execution_options(**clinic_scope.PAST_SCOPE)) is not None


def extension_taken(db: Session, extension: str, clinic_ids: Iterable[int],
                    staff_id: int | None) -> bool:
    """Another active staff member of one of these clinics answers at this extension: the PBX
    would pop one person's calls on the other's desk."""
    ids = list(clinic_ids)
    query = select(Staff.id).where(
        Staff.sip_extension == extension, Staff.active.is_(True),
        or_(Staff.clinic_id.in_(ids),
            Staff.id.in_(select(StaffClinic.staff_id).where(StaffClinic.clinic_id.in_(ids)))))
    if staff_id is not None:
        query = query.where(Staff.id != staff_id)
    return db.scalar(query.limit(1)) is not None


@dataclass(frozen=True)
class Checked:
    role: StaffRole
    login: str | None
    names: dict[str, str]
    locale: str
    sip_extension: str | None
    clinic_ids: list[int]
    specialties: list[str]


def check(db: Session, form: StaffInput, staff: Staff | None = None) -> Checked:
    """The form as it can be stored, or Refused with every field to fix."""
    errors: list[FieldError] = []
    role = StaffRole(form.role) if form.role in set(StaffRole) else None
    if role is None:
        errors.append(FieldError("role", N_("Unknown role")))
    names = {name: _text(getattr(form, name), column, name, errors, required=name != "patronymic")
             for name, column in NAME_FIELDS.items()}
    signs_in = role is not StaffRole.DOCTOR
    login = _text(form.login, Staff.login, "login", errors, required=signs_in)
    if login and not any(e.field == "login" for e in errors):
        if not LOGIN.fullmatch(login):
            errors.append(FieldError("login", N_("Latin letters, digits and . _ @ - only")))
        elif _login_taken(db, login, staff.id if staff else None):
            errors.append(FieldError("login", N_("This login is taken")))
    if form.locale not in LOCALES:
        errors.append(FieldError("locale", N_("Unknown language")))
    clinic_ids = _clinics(db, form.clinic_ids, errors)
    extension = form.sip_extension or None
    if extension is not None:
        if not EXTENSION.fullmatch(extension):
            errors.append(FieldError("sip_extension", N_("2 to 10 digits")))
        elif clinic_ids and extension_taken(db, extension, clinic_ids, staff.id if staff else None):
            errors.append(FieldError("sip_extension",
                                     N_("Another staff member of this clinic has this extension")))
    strange = unknown_specialties(form.specialties)
    if strange:
        errors.append(FieldError("specialties", N_("Unknown specialty: {value}"),
                                 value=strange[0][:40]))
    if staff is None and signs_in and login:
        weak = staff_accounts.password_problem(login, form.password)
        if weak is not None:
            errors.append(FieldError("password", weak))
    if errors or role is None:
        raise Refused(errors)
    return Checked(role, login or None, names, form.locale, extension, clinic_ids,
                   list(dict.fromkeys(form.specialties)) if role is StaffRole.DOCTOR else [])


def _orphaned(db: Session, staff: Staff, losing: Iterable[int]) -> list[int]:
    """The clinics among `losing` that would have no active administrator but `staff`."""
    others = select(Staff.id).where(Staff.role == StaffRole.ADMIN, Staff.active.is_(True),
                                    Staff.id != staff.id)
    covered = set(db.scalars(select(Staff.clinic_id).where(Staff.id.in_(others))))
    covered |= set(db.scalars(select(StaffClinic.clinic_id).where(StaffClinic.staff_id.in_(others))))
    return sorted(set(losing) - covered)


def _guard_admins(db: Session, staff: Staff, losing: Iterable[int], field_name: str) -> None:
    if staff.role != StaffRole.ADMIN or not staff.active:
        return
    orphaned = _orphaned(db, staff, losing)
    if orphaned:
        raise Refused([FieldError(field_name, N_(
            "This is the last active administrator of clinic {value}: make someone else one first"),
            value=orphaned[0])])


def _guard_manageable(db: Session, staff: Staff) -> None:
    if not manageable(db, staff):
        raise Refused([FieldError("clinic_ids", N_(
            "Also works in clinics you do not administer: ask their administrator"))])


def _place(db: Session, staff: Staff, clinic_ids: list[int]) -> None:
    """Own clinic and further ones; the own clinic stays if it is still among them."""
    staff.clinic_id = staff.clinic_id if staff.clinic_id in clinic_ids else clinic_ids[0]
    db.execute(delete(StaffClinic).where(StaffClinic.staff_id == staff.id))
    db.add_all(StaffClinic(staff_id=staff.id, clinic_id=c) for c in clinic_ids if c != staff.clinic_id)


def _fill(staff: Staff, checked: Checked) -> None:
    staff.role, staff.login, staff.locale = checked.role, checked.login, checked.locale
    staff.sip_extension, staff.specialties = checked.sip_extension, checked.specialties
    for name, value in checked.names.items():
        setattr(staff, name, value)


def create(db: Session, form: StaffInput, actor: Staff, now: datetime) -> Staff:
    """A new staff member; one who signs in must choose their own password at the first sign-in.
    Raises Refused (nothing written). The caller commits."""
    checked = check(db, form)
    staff = Staff(clinic_id=checked.clinic_ids[0], created_at=now)
    _fill(staff, checked)
    if checked.role is not StaffRole.DOCTOR and checked.login:
        staff.password_hash = hash_password(form.password)
        staff.must_change_password = True
    db.add(staff)
    db.flush()
    _place(db, staff, checked.clinic_ids)
    audit(db, actor.id, "staff_created", "staff", staff.id, role=str(staff.role),
          clinics=checked.clinic_ids)
    return staff


def update(db: Session, staff: Staff, form: StaffInput, actor: Staff) -> None:
    """Save an edit. Raises Refused (nothing written). The caller commits."""
    _guard_manageable(db, staff)
    checked = check(db, form, staff)
    if staff.id == actor.id and checked.role is not StaffRole.ADMIN:
        raise Refused([FieldError("role", N_("You cannot take away your own administrator role"))])
    before = clinics_of(db, staff)
    losing = before if checked.role is not StaffRole.ADMIN else set(before) - set(checked.clinic_ids)
    _guard_admins(db, staff, losing, "role" if checked.role is not StaffRole.ADMIN else "clinic_ids")
    changed = sorted(name for name in ("role", "login", "locale", "sip_extension")
                     if getattr(staff, name) != getattr(checked, name))
    _fill(staff, checked)
    _place(db, staff, checked.clinic_ids)
    audit(db, actor.id, "staff_updated", "staff", staff.id, changed=changed,
          clinics=checked.clinic_ids)


def set_active(db: Session, staff: Staff, active: bool, actor: Staff, now: datetime) -> int:
    """Deactivate (every session of theirs ends; returns how many) or reactivate. Raises
    Refused (nothing written). The caller commits."""
    _guard_manageable(db, staff)
    if active == staff.active:
        return 0
    if not active:
        if staff.id == actor.id:
            raise Refused([FieldError("active", N_("You cannot deactivate yourself"))])
        _guard_admins(db, staff, clinics_of(db, staff), "active")
        ended = staff_accounts.deactivate(db, staff, now)
    else:
        if staff.sip_extension and extension_taken(db, staff.sip_extension, clinics_of(db, staff),
                                                   staff.id):
            raise Refused([FieldError("sip_extension", N_(
                "Another staff member of this clinic has this extension"))])
        staff.active, ended = True, 0
    audit(db, actor.id, "staff_activated" if active else "staff_deactivated", "staff", staff.id,
          sessions_ended=ended)
    return ended


def reset_password(db: Session, staff: Staff, temporary: str, actor: Staff, now: datetime) -> int:
    """Set a temporary password the staff member must replace at their next sign-in; every
    session of theirs ends (returns how many). Raises Refused (nothing written)."""
    _guard_manageable(db, staff)
    if not staff.login:
        raise Refused([FieldError("password", N_("This staff member has no login"))])
    try:
        ended = staff_accounts.reset_password(db, staff, temporary, now)
    except staff_accounts.WeakPassword as exc:
        raise Refused([FieldError("password", exc.key)]) from None
    audit(db, actor.id, "staff_password_reset", "staff", staff.id, sessions_ended=ended)
    return ended


def set_softphone(db: Session, staff: Staff, form: Mapping[str, str], secret_key: str,
                  actor: Staff) -> str:
    """Set or clear the staff member's browser phone (softphone_accounts.check names a bad
    field; an empty SIP password keeps the stored one); returns its kind. The password is never
    audited. Raises Refused (nothing written). The caller commits."""
    _guard_manageable(db, staff)
    kept = softphone_accounts.read(secret_key, staff)
    try:
        phone = softphone_accounts.check(form, kept)
    except FieldError as exc:
        raise Refused([exc]) from None
    if phone is not None and staff.role not in (StaffRole.RECEPTIONIST, StaffRole.ADMIN):
        raise Refused([FieldError("softphone_kind", N_("Only receptionists and administrators work at the desk"))])
    softphone_accounts.store(secret_key, staff, phone)
    kind = phone.kind if phone is not None else "off"
    audit(db, actor.id, "staff_softphone_set", "staff", staff.id, kind=kind,
          password_changed=bool(form.get("sip_password")) and kind == "sip")
    return kind
