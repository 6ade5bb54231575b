"""Files as clinics' record systems export them, built in the test (no binary fixtures)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any


def csv_bytes(rows: Sequence[Sequence[Any]], encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


PATIENTS_1251 = [
    ["Код пациента", "Фамилия", "Имя", "Отчество", "Дата рождения", "Пол", "Телефон",
     "Домашний телефон", "Язык", "Согласие на звонки", "Примечание"],
    ["P-1", "Иванов", "Иван", "Иванович", "01.02.1980", "м", "8 916 123-45-67",
     "+7 495 123 45 67", "русский", "да", "аллергия на лидокаин"],
    ["P-2", "Иванова", "Мария", "Петровна", "03.04.1982", "ж", "8 916 123-45-67 (семья)",
     "", "", "да", ""],
    ["P-3", "Петрова", "Анна", "", "1990-05-06", "ж", "8-916-12", "", "", "", ""],
    ["P-4", "Сидоров", "Пётр", "", "32.13.1990", "м", "89161112233", "", "", "", ""],
    ["P-5", "Ли", "Вэй", "", "", "м", "+86 138 0013 8000", "", "китайский", "нет", ""],
]
DOCTORS = [
    ["ID врача", "ФИО", "Специальность"],
    ["D-1", "Смирнова Ольга Викторовна", "Терапевт"],
    ["D-2", "Кузнецов Игорь", "surgeon, implantologist"],
]
