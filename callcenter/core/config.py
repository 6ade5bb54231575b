"""All settings in one table: environment variables (and an optional .env), validated at start."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCALES = ("ru", "en", "zh")


class ConfigError(ValueError):
    """A setting is unknown or has a bad value; the message names it."""


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


def _locale(value: str) -> str:
    if value not in LOCALES:
        raise ValueError(f"must be one of {', '.join(LOCALES)}, got {value!r}")
    return value


def _database_url(value: str) -> str:
    if not value:
        return value
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"not a database URL: {value!r}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {url.get_backend_name()!r} (sqlite or postgresql)")
    return value


def _redis_url(value: str) -> str:
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"not a Redis URL: {value!r}")
    return value


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"not an integer: {value!r}") from None
    if number <= 0:
        raise ValueError(f"must be positive, got {number}")
    return number


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"not an integer: {value!r}") from None
    if number < 0:
        raise ValueError(f"must be 0 or more, got {number}")
    return number


def _clock_shift(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise ValueError(f"not a number of seconds: {value!r}") from None
    if abs(seconds) > 86400:
        raise ValueError(f"must be within one day, got {seconds}")
    return seconds


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _region(value: str) -> str:
    if len(value) != 2 or not value.isalpha():
        raise ValueError(f"must be a two-letter country code, got {value!r}")
    return value.upper()


def _environment(value: str) -> str:
    if value not in ("development", "production"):
        raise ValueError(f"must be development or production, got {value!r}")
    return value


def _text(value: str) -> str:
    return value


def _log_format(value: str) -> str:
    if value not in ("text", "json"):
        raise ValueError(f"must be text or json, got {value!r}")
    return value


def _clock_time(value: str) -> str:
    hours, sep, minutes = value.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and int(hours) <= 24 and int(minutes) < 60):
        raise ValueError(f"expected HH:MM, got {value!r}")
    if int(hours) == 24 and int(minutes):
        raise ValueError(f"expected HH:MM, got {value!r}")
    return value


def _time_window(value: str) -> str:
    start, sep, end = value.partition("-")
    if not sep:
        raise ValueError(f"expected HH:MM-HH:MM, got {value!r}")
    _clock_time(start)
    _clock_time(end)
    if start >= end:
        raise ValueError(f"window ends before it starts: {value!r}")
    return value


def _day_list(value: str) -> tuple[int, ...]:
    try:
        days = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated day counts, got {value!r}") from None
    if any(day <= 0 for day in days):
        raise ValueError(f"day counts must be positive, got {value!r}")
    return days


def _followup_schedule(value: str) -> str:
    from callcenter.core.followup_table import parse_overrides

    parse_overrides(value)
    return value


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None
    if number <= 0:
        raise ValueError(f"must be positive, got {number}")
    return number


def _dial_mode(value: str) -> str:
    if value not in ("preview", "twilio", "sip"):
        raise ValueError(f"must be preview, twilio or sip, got {value!r}")
    return value


def _backoff(value: str) -> dict[str, int]:
    table: dict[str, int] = {}
    for part in value.split(","):
        name, sep, seconds = part.strip().partition("=")
        if not sep or not seconds.strip().isdigit():
            raise ValueError(f"expected outcome=seconds pairs, got {part!r}")
        table[name.strip()] = int(seconds)
    return table


def _click_to_call(value: str) -> str:
    if value not in ("auto", "twilio", "ami", "off"):
        raise ValueError(f"must be auto, twilio, ami or off, got {value!r}")
    return value


def _machine_policy(value: str) -> str:
    if value not in ("message", "retry"):
        raise ValueError(f"must be message or retry, got {value!r}")
    return value


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False


# The one table of settings. Key = name in app.config; env = variable that sets it.
DEFAULTS: dict[str, Setting] = {
    s.env.removeprefix("CALLCENTER_"): s
    for s in (
        Setting("CALLCENTER_ENV", "development", _environment,
                "development or production (production refuses unsigned webhooks and dev secrets)"),
        Setting("CALLCENTER_INSTANCE_DIR", str(REPO_ROOT / "instance"), _text,
                "folder for the SQLite file, the embedded Redis and generated secrets"),
        Setting("DATABASE_URL", "", _database_url,
                "SQLAlchemy URL; default: SQLite file in the instance folder"),
        Setting("REDIS_URL", "", _redis_url,
                "redis:// or unix:// URL; default: an embedded Redis in the instance folder"),
        Setting("CALLCENTER_SECRET_KEY", "", _text, "session signing key; generated in development",
                secret=True),
        Setting("CALLCENTER_TIMEZONE", "Europe/Moscow", _timezone,
                "IANA time zone of the default clinic"),
        Setting("CALLCENTER_LOCALE", "ru", _locale, "default locale: ru, en or zh"),
        Setting("CALLCENTER_REGION", "RU", _region,
                "country whose numbering plan applies to numbers written without +"),
        Setting("CALLCENTER_LOG_LEVEL", "INFO", _text, "logging level"),
        Setting("CALLCENTER_LOG_FORMAT", "text", _log_format,
                "text (one readable line) or json (one JSON object a line); numbers are masked"),
        Setting("CALLCENTER_LOGIN_FAILURES", "5", _positive_int,
                "failed sign-ins per login name before a pause"),
        Setting("CALLCENTER_LOGIN_ADDRESS_FAILURES", "20", _positive_int,
                "failed sign-ins per client address before a pause (a desk behind one NAT shares it)"),
        Setting("CALLCENTER_TRUSTED_PROXIES", "0", _non_negative_int,
                "proxies in front that set X-Forwarded-For (client address for rate limits and audit)"),
        Setting("CALLCENTER_LOGIN_WINDOW", "300", _positive_int,
                "seconds over which failed sign-ins are counted"),
        Setting("CALLCENTER_WEBHOOK_RATE", "6000", _positive_int,
                "webhook requests per minute accepted from one source address (429 above)"),
        Setting("CALLCENTER_MAX_WEBHOOK_BYTES", "262144", _positive_int,
                "largest webhook body accepted (413 above)"),
        Setting("CALLCENTER_MAX_WEBHOOK_EVENTS", "100", _positive_int,
                "events one webhook request may carry; more get 413 (each is work in the "
                "request's one transaction)"),
        Setting("CALLCENTER_REVIEW_BODY_BYTES", "4096", _positive_int,
                "bytes of a refused webhook's body kept for review (unsigned, too many events)"),
        Setting("CALLCENTER_REPLAY_WINDOW", "300", _positive_int,
                "seconds a signed, time-stamped webhook stays valid"),
        Setting("CALLCENTER_PUBLIC_URL", "", _text,
                "public base URL the PBX calls (behind a proxy: what Twilio signed)"),
        Setting("CALLCENTER_SCRIPTS_DIR", "", _text,
                "folder of the clinic's own scripts that override the packaged ones"),
        Setting("CALLCENTER_WEB_WORKER", "1", _bool, "serve: also start a worker process"),
        Setting("CALLCENTER_RAW_RETENTION_DAYS", "90", _positive_int,
                "days a processed raw webhook is kept (callcenter retention)"),
        Setting("CALLCENTER_REVIEW_RETENTION_DAYS", "365", _positive_int,
                "days a refused or failed raw webhook is kept for review"),
        Setting("CALLCENTER_RECORDING_RETENTION_DAYS", "365", _positive_int,
                "days a call keeps its recording link"),
        Setting("TWILIO_ACCOUNT_SID", "", _text, "Twilio account SID"),
        Setting("TWILIO_AUTH_TOKEN", "", _text, "Twilio auth token (signs webhooks)", secret=True),
        Setting("TWILIO_API_BASE", "", _text,
                "override of Twilio's REST base URL (tests point it at a local server)"),
        Setting("CALLCENTER_TWILIO_RING", "", _text,
                "comma-separated sip:/client: URIs the Twilio reply rings"),
        Setting("CALLCENTER_TWILIO_CALLER_ID", "", _text, "number outbound Twilio calls come from"),
        Setting("CALLCENTER_TWILIO_AGENT_URI", "client:{extension}", _text,
                "click-to-call: the receptionist's leg Twilio rings first ({extension} filled in)"),
        Setting("CALLCENTER_TWILIO_RECORD", "0", _bool,
                "record desk conversations of Twilio calls (tell callers; voicemail is always kept)"),
        Setting("CALLCENTER_GENERIC_SECRET", "", _text, "HMAC secret of the generic JSON webhook",
                secret=True),
        Setting("CALLCENTER_ASTERISK_SECRET", "", _text, "HMAC secret of Asterisk HTTP posts",
                secret=True),
        Setting("CALLCENTER_AMI_HOST", "127.0.0.1", _text, "Asterisk AMI host for ami-bridge"),
        Setting("CALLCENTER_AMI_PORT", "5038", _positive_int, "Asterisk AMI port"),
        Setting("CALLCENTER_AMI_USER", "", _text, "Asterisk AMI user"),
        Setting("CALLCENTER_AMI_PASSWORD", "", _text, "Asterisk AMI password", secret=True),
        Setting("CALLCENTER_AMI_CONTEXT", "from-internal", _text,
                "click-to-call: dial-plan context the patient's number is dialed in"),
        Setting("CALLCENTER_AMI_AGENT_CHANNEL", "PJSIP/{extension}", _text,
                "click-to-call: the receptionist's channel the PBX rings first"),
        Setting("CALLCENTER_CLICK_TO_CALL", "auto", _click_to_call,
                "click-to-call through twilio, ami (Asterisk) or off; auto = whichever is set up"),
        Setting("CALLCENTER_DESK_LOCK_MINUTES", "5", _positive_int,
                "the desk locks after this many idle minutes (password to unlock)"),
        Setting("CALLCENTER_SESSION_IDLE_MINUTES", "30", _positive_int,
                "a session with no request for this long ends (sign in again)"),
        Setting("CALLCENTER_SESSION_HOURS", "12", _positive_int,
                "a session ends this many hours after sign-in, whatever happens (one shift)"),
        Setting("CALLCENTER_ZADARMA_SECRET", "", _text, "Zadarma API secret", secret=True),
        Setting("CALLCENTER_MANGO_API_KEY", "", _text, "Mango Office VPBX API key", secret=True),
        Setting("CALLCENTER_MANGO_SALT", "", _text, "Mango Office VPBX API salt", secret=True),
        Setting("CALLCENTER_MANGO_CLOCK_SHIFT", "0", _clock_shift,
                "seconds to subtract from Mango time stamps (10800 if they prove to be UTC+3)"),
        Setting("CALLCENTER_YEASTAR_SECRET", "", _text, "Yeastar webhook secret", secret=True),
        Setting("CALLCENTER_TELNYX_PUBLIC_KEY", "", _text, "Telnyx Ed25519 public key (base64)"),
        Setting("CALLCENTER_3CX_SECRET", "", _text, "key 3CX sends with CRM lookups", secret=True),
        Setting("CALLCENTER_3CX_CLINIC", "0", _non_negative_int,
                "id of the clinic whose patients the 3CX lookup names (0 = the first clinic)"),
        Setting("CALLCENTER_ATTRIBUTION_DAYS", "14", _positive_int,
                "analytics: a booking made this many days after a call still counts for the call"),
        Setting("CALLCENTER_INVITATIONS_TARGET", "50", _positive_int,
                "analytics: monthly target of phone invitations that came, per receptionist"),
        Setting("CALLCENTER_CALL_HOURS", "09:00-21:00", _time_window,
                "outbound calls only in this window, patient's local time"),
        Setting("CALLCENTER_CONFIRM_WINDOW", "16:00-20:00", _time_window,
                "evening window for next-day confirmation calls"),
        Setting("CALLCENTER_CONFIRM_MORNING", "09:00-11:00", _time_window,
                "morning window for the second half of a day that follows days off"),
        Setting("CALLCENTER_PLAN_SECONDS", "60", _positive_int,
                "how often workers build due lists and queue due calls"),
        Setting("CALLCENTER_LISTS_AT", "07:00", _clock_time,
                "local time the daily call lists (confirmations, follow-ups, recalls) are built"),
        Setting("CALLCENTER_FOLLOWUP_SCHEDULE", "", _followup_schedule,
                "override of follow-up days per treatment, e.g. filling=1,90,180,360;cleaning=1,180"),
        Setting("CALLCENTER_RECALL_DAYS", "180,360", _day_list,
                "preventive check-up invitations, days after the last treatment"),
        Setting("CALLCENTER_DIAL_MODE", "preview", _dial_mode,
                "how new campaigns dial: preview (desk calls by hand), twilio or sip"),
        Setting("CALLCENTER_DIAL_CPS", "1", _positive_float, "calls per second per trunk"),
        Setting("CALLCENTER_DIAL_CHANNELS", "4", _positive_int, "simultaneous outbound calls per trunk"),
        Setting("CALLCENTER_DIAL_MAX_ATTEMPTS", "3", _positive_int, "attempts per task before giving up"),
        Setting("CALLCENTER_DIAL_BACKOFF", "busy=600,no_answer=1800,machine=3600,hung_up=1800,failed=900",
                _backoff, "seconds before the next attempt, per outcome"),
        Setting("CALLCENTER_DIAL_MACHINE", "message", _machine_policy,
                "answering machine: message (leave a short one) or retry"),
        Setting("CALLCENTER_DIAL_RING_SECONDS", "30", _positive_int, "ring time before no-answer"),
        Setting("CALLCENTER_DIAL_REQUEUE_AFTER", "600", _positive_int,
                "seconds before a due task whose dial job vanished is queued again"),
        Setting("CALLCENTER_DIAL_ATTEMPT_TIMEOUT", "300", _positive_int,
                "seconds after which an attempt with no result is closed as failed"),
        Setting("CALLCENTER_SIP_SERVER", "", _text, "IP-PBX host the SIP dialer registers with"),
        Setting("CALLCENTER_SIP_PORT", "5060", _positive_int, "IP-PBX SIP port (UDP)"),
        Setting("CALLCENTER_SIP_USER", "", _text, "extension the SIP dialer registers as"),
        Setting("CALLCENTER_SIP_PASSWORD", "", _text, "password of that extension", secret=True),
        Setting("CALLCENTER_SIP_MY_IP", "127.0.0.1", _text,
                "this machine's address on the PBX network (pyVoIP puts it in SDP)"),
    )
}
ENV_NAMES = {s.env for s in DEFAULTS.values()}


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "=" not in stripped:
            raise ConfigError(f"{path}:{number}: expected NAME=value")
        name, _, value = stripped.partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def load_config(environ: Mapping[str, str] | None = None,
                override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the settings dict from the environment (+ .env) and an override of keys."""
    env = dict(_read_dotenv(Path.cwd() / ".env"))
    env.update(os.environ if environ is None else environ)
    for name in env:
        if name.startswith("CALLCENTER_") and name not in ENV_NAMES:
            raise ConfigError(f"{name}: unknown setting")
    config: dict[str, Any] = {}
    for key, setting in DEFAULTS.items():
        raw = env.get(setting.env, setting.default)
        try:
            config[key] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.env}: {exc}") from None
    for key, value in (override or {}).items():
        if key not in DEFAULTS:
            raise ConfigError(f"{key}: unknown setting")
        config[key] = value
    return _fill_derived(config)


def _fill_derived(config: dict[str, Any]) -> dict[str, Any]:
    instance = Path(config["INSTANCE_DIR"])
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{instance / 'callcenter.core.db'}"
    if not config["SECRET_KEY"]:
        if config["ENV"] == "production":
            raise ConfigError("CALLCENTER_SECRET_KEY: required in production")
        config["SECRET_KEY"] = _development_secret(instance)
    return config


def _development_secret(instance: Path) -> str:
    path = instance / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def describe(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(env name, shown value) pairs for `check-config`; secrets are masked."""
    rows = []
    for key, setting in DEFAULTS.items():
        value = config.get(key, "")
        shown = ("set" if value else "not set") if setting.secret else str(value)
        rows.append((setting.env, shown))
    return rows
