"""File import: encodings and delimiters, row-by-row reasons, idempotency by external id, the
batch as the unit of work, and the `callcenter import` command (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.cli import cli
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.inputs import InputError
from callcenter.core.models import (
    AuditLog,
    ExternalRef,
    ImportProfile,
    Patient,
    Service,
    Sex,
    Staff,
    StaffRole,
)
from callcenter.exchange.columns import detect
from callcenter.exchange.importer import Cancelled, run_import
from callcenter.exchange.tables import read_table
from tests import factories as f
from tests.import_files import DOCTORS, PATIENTS_1251, csv_bytes, xlsx_bytes


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    session = make_session_factory(engine)()
    yield session
    session.close()
    engine.dispose()


def _patients(session: Session) -> dict[str, Patient]:
    refs = dict(session.execute(select(ExternalRef.external_id, ExternalRef.local_id)
                                .where(ExternalRef.kind == "patients")).all())
    return {ext: session.get(Patient, local) for ext, local in refs.items()}


def test_a_windows_1251_file_with_semicolons_goes_in_row_by_row(db: Session) -> None:
    clinic = f.clinic(db)
    db.commit()
    table = read_table(csv_bytes(PATIENTS_1251, "cp1251", ";"), "patients.csv")
    assert (table.delimiter, table.encoding) == (";", "cp1251")
    result = run_import(db, clinic, "patients", table, locale="en")
    assert result.counts == {"created": 3, "updated": 0, "unchanged": 0, "refused": 2}
    assert result.report[2] == (4, "refused", "phones", "phones: phone '8-916-12' is not a number")
    assert result.report[3][:3] == (5, "refused", "birth_date")
    assert "'32.13.1990' is not a date" in result.report[3][3]

    db.expire_all()
    patients = _patients(db)
    ivan, maria, wei = patients["P-1"], patients["P-2"], patients["P-5"]
    assert (ivan.last_name, ivan.patronymic, str(ivan.birth_date), ivan.sex) == (
        "Иванов", "Иванович", "1980-02-01", Sex.MALE)
    assert sorted((p.e164, p.label) for p in ivan.phones) == [
        ("+74951234567", "home"), ("+79161234567", "mobile")]
    # One number for the whole family, each with their own label.
    assert [(p.e164, p.label) for p in maria.phones] == [("+79161234567", "семья")]
    assert (wei.preferred_language, wei.consent_calls, wei.phones[0].e164) == ("zh", False,
                                                                               "+8613800138000")
    assert ivan.notes == "аллергия на лидокаин"
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "import")).one()
    assert audit.object_type == "patients" and audit.details["created"] == 3

    refused = read_table(result.refused_file or b"")
    assert refused.header[-1] == "error" and [r[0] for r in refused.rows()] == ["P-3", "P-4"]
    assert next(refused.rows())[-1] == "phones: phone '8-916-12' is not a number"


def test_a_second_import_changes_nothing_and_a_changed_row_updates(db: Session) -> None:
    clinic = f.clinic(db)
    db.commit()
    content = csv_bytes(PATIENTS_1251[:3])
    assert run_import(db, clinic, "patients", read_table(content)).counts["created"] == 2
    again = run_import(db, clinic, "patients", read_table(content))
    assert again.counts == {"created": 0, "updated": 0, "unchanged": 2, "refused": 0}

    changed = [row[:] for row in PATIENTS_1251[:3]]
    changed[1][6] = "+7 916 765-43-21"  # a new mobile number for P-1
    changed[1][10] = ""
    result = run_import(db, clinic, "patients", read_table(csv_bytes(changed, "utf-8-sig", ";")))
    assert result.counts == {"created": 0, "updated": 1, "unchanged": 1, "refused": 0}
    db.expire_all()
    assert db.scalar(select(func.count(Patient.id))) == 2
    ivan = _patients(db)["P-1"]
    assert sorted(p.e164 for p in ivan.phones) == ["+74951234567", "+79167654321"]
    assert ivan.notes == ""


def test_doctors_services_and_a_dry_run_that_writes_nothing(db: Session) -> None:
    clinic = f.clinic(db)
    db.commit()
    dry = run_import(db, clinic, "doctors", read_table(csv_bytes(DOCTORS)), dry_run=True)
    assert dry.counts["created"] == 2
    assert db.scalar(select(func.count(Staff.id))) == 0
    assert db.scalar(select(func.count(ExternalRef.id))) == 0

    run_import(db, clinic, "doctors", read_table(csv_bytes(DOCTORS)))
    doctors = {d.last_name: d for d in db.scalars(select(Staff))}
    assert doctors["Смирнова"].first_name == "Ольга" and doctors["Смирнова"].patronymic == "Викторовна"
    assert doctors["Смирнова"].specialties == ["therapist"]
    assert doctors["Кузнецов"].specialties == ["surgeon", "implantologist"]
    assert {d.role for d in doctors.values()} == {StaffRole.DOCTOR}

    services = xlsx_bytes([["Код услуги", "Наименование", "Длительность", "Цена", "Цена до"],
                           ["S-1", "Лечение кариеса", 60, "6 500", 9000],
                           ["S-2", "Консультация", 30, "", None],
                           ["S-3", "Чистка", "полчаса", 100, None]])
    result = run_import(db, clinic, "services", read_table(services, "services.xlsx"))
    assert result.counts["created"] == 2 and result.report[2][2] == "duration"
    filling = db.scalars(select(Service).order_by(Service.id)).first()
    assert filling is not None
    assert (filling.names, filling.duration_minutes, filling.price_min, filling.price_max) == (
        {"ru": "Лечение кариеса"}, 60, 650000, 900000)


def test_headers_are_recognised_in_three_languages() -> None:
    assert detect("patients", ["患者编号", "姓名", "手机", "出生日期", "性别"]) == {
        "患者编号": "external_id", "姓名": "full_name", "手机": "phone_mobile",
        "出生日期": "birth_date", "性别": "sex"}
    assert detect("appointments", ["Visit ID", "Patient ID", "Doctor ID", "Date", "Time",
                                   "Status", "Whatever"]) == {
        "Visit ID": "external_id", "Patient ID": "patient_id", "Doctor ID": "doctor_id",
        "Date": "date", "Time": "time", "Status": "status"}


@pytest.mark.parametrize(("content", "problem"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"just one line of words\nand another\n", "delimiter"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls"),
    (b"PK\x03\x04 broken zip", ".xlsx"),
    (b"   \n", "empty"),
])
def test_a_file_that_is_not_a_table_is_named(content: bytes, problem: str) -> None:
    with pytest.raises(InputError) as refused:
        read_table(content)
    assert refused.value.field == "file" and problem in refused.value.message


def test_a_mapping_naming_a_missing_column_or_lacking_the_id_is_refused(db: Session) -> None:
    clinic = f.clinic(db)
    db.commit()
    table = read_table(csv_bytes(DOCTORS))
    with pytest.raises(InputError, match="no column 'Код'"):
        run_import(db, clinic, "doctors", table, {"Код": "external_id"})
    with pytest.raises(InputError, match="no column for 'external_id'"):
        run_import(db, clinic, "doctors", table, {"ФИО": "full_name"})


def test_a_cancelled_job_keeps_whole_batches_only(db: Session) -> None:
    clinic = f.clinic(db)
    db.commit()
    rows = [["id", "Фамилия", "Телефон"]] + [[f"N{i}", f"Пациент{i}", f"+7916000{i:04d}"]
                                             for i in range(7)]
    seen: list[int] = []

    def progress(done: int, total: int) -> bool:
        seen.append(done)
        return False  # cancel at the first batch boundary

    with pytest.raises(Cancelled):
        run_import(db, clinic, "patients", read_table(csv_bytes(rows)), batch=3, progress=progress)
    assert seen == [3]
    db.expire_all()
    assert db.scalar(select(func.count(Patient.id))) == 3
    assert db.scalar(select(func.count(ExternalRef.id))) == 3
    # The rest comes in on the next run, the first three unchanged.
    result = run_import(db, clinic, "patients", read_table(csv_bytes(rows)), batch=3)
    assert result.counts == {"created": 4, "updated": 0, "unchanged": 3, "refused": 0}


def _cli(database_url: str, tmp_path: Path, *args: str) -> Any:
    env = {"CALLCENTER_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": database_url}
    return CliRunner().invoke(cli, ["import", *args], env=env)


def test_the_import_command_counts_and_exits_by_refusals(db: Session, database_url: str,
                                                         tmp_path: Path) -> None:
    clinic = f.clinic(db)
    db.commit()
    good = tmp_path / "doctors.csv"
    good.write_bytes(csv_bytes(DOCTORS, "utf-8-sig"))
    result = _cli(database_url, tmp_path, "doctors", str(good), "--save-mapping", "ours")
    assert result.exit_code == 0, result.output
    assert "doctors: created 2, updated 0, unchanged 0, refused 0" in result.output
    assert db.scalar(select(ImportProfile.name)) == "ours"

    patients = tmp_path / "patients.csv"
    patients.write_bytes(csv_bytes(PATIENTS_1251, "cp1251", ";"))
    refused = tmp_path / "refused.csv"
    result = _cli(database_url, tmp_path, "patients", str(patients), "--clinic", str(clinic.id),
                  "--dry-run", "--refused", str(refused))
    assert result.exit_code == 1
    assert "row 4: phones: phone '8-916-12' is not a number" in result.output
    assert "dry run: patients: created 3, updated 0, unchanged 0, refused 2" in result.output
    assert read_table(refused.read_bytes()).total == 2
    assert db.scalar(select(func.count(Patient.id))) == 0

    again = _cli(database_url, tmp_path, "doctors", str(good), "--mapping", "ours")
    assert again.exit_code == 0 and "unchanged 2" in again.output


@pytest.mark.parametrize(("args", "message"), [
    (["patients", "{bad}"], "bad.csv: not a table: the file is binary"),
    (["patients", "{doctors}", "--mapping", "nope"], "--mapping: no saved mapping 'nope'"),
    (["patients", "{doctors}", "--clinic", "999"], "--clinic: no clinic 999"),
    (["patients", "{doctors}"], "doctors.csv: no column for 'external_id'"),
])
def test_the_import_command_fails_in_one_line(db: Session, database_url: str, tmp_path: Path,
                                              args: list[str], message: str) -> None:
    f.clinic(db)
    db.commit()
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "doctors.csv").write_bytes(csv_bytes([["ФИО", "Специальность"], ["A B", ""]]))
    paths = {"bad": str(tmp_path / "bad.csv"), "doctors": str(tmp_path / "doctors.csv")}
    result = _cli(database_url, tmp_path, *(arg.format(**paths) for arg in args))
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_an_id_twice_in_a_batch_and_a_row_deleted_since_the_import(db: Session) -> None:
    """New rows are inserted in bulk at the end of a batch: a later row with the same id within
    the batch updates the pending one, and an id whose row was deleted here gets a new row with
    its reference pointed at it (one reference, never two)."""
    clinic = f.clinic(db)
    db.commit()
    header = ["ID", "Фамилия", "Имя", "Телефон"]
    rows = [header, ["P-1", "Иванов", "Иван", "89161234567"], ["P-2", "Петрова", "Анна", ""],
            ["P-1", "Иванов", "Иван", "89167654321"]]
    result = run_import(db, clinic, "patients", read_table(csv_bytes(rows)), batch=2)
    assert result.counts == {"created": 2, "updated": 1, "unchanged": 0, "refused": 0}
    db.expire_all()
    assert db.scalar(select(func.count(Patient.id))) == 2
    assert [p.e164 for p in _patients(db)["P-1"].phones] == ["+79167654321"]

    db.delete(_patients(db)["P-2"])
    db.commit()
    rows[2][2] = "Мария"
    result = run_import(db, clinic, "patients", read_table(csv_bytes([header, rows[3], rows[2]])))
    assert result.counts == {"created": 1, "updated": 0, "unchanged": 1, "refused": 0}
    db.expire_all()
    anna = _patients(db)["P-2"]
    assert (anna.first_name, db.scalar(select(func.count(ExternalRef.id)))) == ("Мария", 2)


def test_a_file_of_many_batches_streams_with_a_refusal_deep_in_it(db: Session,
                                                                   tmp_path: Path) -> None:
    """1,200 patients and 1,500 visits read from files on disk a batch of 100 at a time: a
    birth-date column that switches format part way, a row refused at row 1,101 with its reason,
    an id twice in one batch; the visits find their patients batch by batch."""
    clinic = f.clinic(db)
    db.commit()
    rows: list[list[Any]] = [["Код пациента", "Фамилия", "Имя", "Дата рождения", "Телефон"]]
    for n in range(1200):
        born = f"{n % 28 + 1:02d}.03.1980" if n < 700 else f"1981-04-{n % 28 + 1:02d}"
        rows.append([f"P-{n}", f"Фамилия{n}", "Имя", born, f"+7 916 {n:04d}-000"])
    rows[1100][3] = "31.02.1990"  # row 1,101 as the spreadsheet counts (the header is row 1)
    rows.append(["P-5", "Пятов", "Имя", "01.01.1970", "8 916 555-55-55"])  # P-5 again
    patients = tmp_path / "patients.csv"
    patients.write_bytes(csv_bytes(rows, "cp1251", ";"))

    dry = run_import(db, clinic, "patients", read_table(patients), batch=100, dry_run=True)
    assert dry.counts == {"created": 1199, "updated": 1, "unchanged": 0, "refused": 1}
    assert db.scalar(select(func.count(Patient.id))) == 0

    seen: list[tuple[int, int]] = []
    result = run_import(db, clinic, "patients", read_table(patients), batch=100,
                        progress=lambda done, total: seen.append((done, total)) or True)
    assert result.counts == {"created": 1199, "updated": 1, "unchanged": 0, "refused": 1}
    assert result.refused == [(1101, "birth_date: '31.02.1990' is not a date in a known format")]
    assert seen[0] == (100, 1201) and seen[-1] == (1201, 1201) and len(seen) == 13
    refused = read_table(result.refused_file or b"")
    assert [row[0] for row in refused.rows()] == ["P-1099"] and refused.delimiter == ";"
    db.expire_all()
    found = _patients(db)
    assert len(found) == 1199 and "P-1099" not in found
    assert (str(found["P-699"].birth_date), str(found["P-700"].birth_date)) == (
        "1980-03-28", "1981-04-01")
    assert (found["P-5"].last_name, [p.e164 for p in found["P-5"].phones]) == (
        "Пятов", ["+79165555555"])

    visits = [["ID визита", "Код пациента", "Код врача", "Дата", "Время"]]
    doctors = tmp_path / "doctors.csv"
    doctors.write_bytes(csv_bytes(DOCTORS))
    run_import(db, clinic, "doctors", read_table(doctors))
    visits += [[f"V-{n}", f"P-{n % 1201}", "D-1", "09.03.2026", "10:00"] for n in range(1500)]
    result = run_import(db, clinic, "appointments", read_table(csv_bytes(visits)), batch=100)
    assert result.counts == {"created": 1498, "updated": 0, "unchanged": 0, "refused": 2}
    assert {reason for _row, reason in result.refused} == {
        "patient_id: no patient with id 'P-1099' was imported",
        "patient_id: no patient with id 'P-1200' was imported"}
    again = run_import(db, clinic, "patients", read_table(patients), batch=100)
    # P-5's two rows differ, so each rewrites it again; the last one still wins.
    assert again.counts == {"created": 0, "updated": 2, "unchanged": 1198, "refused": 1}
