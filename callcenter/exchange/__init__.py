"""Data exchange with the clinic's own record system: file import (CSV, XLSX) of patients,
doctors, services, appointments and treatments, idempotent by the system's own ids."""
