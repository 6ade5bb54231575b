"""All settings in one table: environment variables (and an optional .env), validated at start."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callcenter.core import config_values
from callcenter.core.config_values import LOCALES as LOCALES  # the languages the product speaks

REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """A setting is unknown or has a bad value; the message names it."""


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
        Setting("CALLCENTER_ENV", "development", config_values.environment,
                "development or production (production refuses unsigned webhooks and dev secrets)"),
        Setting("CALLCENTER_INSTANCE_DIR", str(REPO_ROOT / "instance"), config_values.plain_text,
                "folder for the SQLite file, the embedded Redis and generated secrets"),
        Setting("DATABASE_URL", "", config_values.database_url,
                "SQLAlchemy URL; default: SQLite file in the instance folder"),
        Setting("REDIS_URL", "", config_values.redis_url,
                "redis:// or unix:// URL; default: an embedded Redis in the instance folder"),
        Setting("CALLCENTER_SECRET_KEY", "", config_values.plain_text, "session signing key; generated in development",
                secret=True),
        Setting("CALLCENTER_TIMEZONE", "Europe/Moscow", config_values.timezone,
                "IANA time zone of the default clinic"),
        Setting("CALLCENTER_LOCALE", "ru", config_values.locale, "default locale: ru, en or zh"),
        Setting("CALLCENTER_REGION", "RU", config_values.region,
                "country whose numbering plan applies to numbers written without +"),
        Setting("CALLCENTER_LOG_LEVEL", "INFO", config_values.plain_text, "logging level"),
        Setting("CALLCENTER_LOG_FORMAT", "text", config_values.log_format,
                "text (one readable line) or json (one JSON object a line); numbers are masked"),
        Setting("CALLCENTER_LOGIN_FAILURES", "5", config_values.positive_int,
                "failed sign-ins per login name before a pause"),
        Setting("CALLCENTER_LOGIN_ADDRESS_FAILURES", "20", config_values.positive_int,
                "failed sign-ins per client address before a pause (a desk behind one NAT shares it)"),
        Setting("CALLCENTER_TRUSTED_PROXIES", "0", config_values.non_negative_int,
                "proxies in front that set X-Forwarded-For (client address for rate limits and audit)"),
        Setting("CALLCENTER_LOGIN_WINDOW", "300", config_values.positive_int,
                "seconds over which failed sign-ins are counted"),
        Setting("CALLCENTER_WEBHOOK_RATE", "6000", config_values.positive_int,
                "webhook requests per minute accepted from one source address (429 above)"),
        Setting("CALLCENTER_MAX_WEBHOOK_BYTES", "262144", config_values.positive_int,
                "largest webhook body accepted (413 above)"),
        Setting("CALLCENTER_MAX_WEBHOOK_EVENTS", "100", config_values.positive_int,
                "events one webhook request may carry; more get 413 (each is work in the "
                "request's one transaction)"),
        Setting("CALLCENTER_REVIEW_BODY_BYTES", "4096", config_values.positive_int,
                "bytes of a refused webhook's body kept for review (unsigned, too many events)"),
        Setting("CALLCENTER_REPLAY_WINDOW", "300", config_values.positive_int,
                "seconds a signed, time-stamped webhook stays valid"),
        Setting("CALLCENTER_PUBLIC_URL", "", config_values.plain_text,
                "public base URL the PBX calls (behind a proxy: what Twilio signed)"),
        Setting("CALLCENTER_SCRIPTS_DIR", "", config_values.plain_text,
                "folder of the clinic's own scripts that override the packaged ones"),
        Setting("CALLCENTER_WEB_WORKER", "1", config_values.boolean, "serve: also start a worker process"),
        Setting("CALLCENTER_RETURN_MEMORY", "1", config_values.boolean,
                "glibc: hand freed memory back to the system (0 keeps glibc's own defaults)"),
        Setting("CALLCENTER_RAW_RETENTION_DAYS", "90", config_values.positive_int,
                "days a processed raw webhook is kept (callcenter retention)"),
        Setting("CALLCENTER_REVIEW_RETENTION_DAYS", "365", config_values.positive_int,
                "days a refused or failed raw webhook is kept for review"),
        Setting("CALLCENTER_RECORDING_RETENTION_DAYS", "365", config_values.positive_int,
                "days a call keeps its recording link"),
        Setting("TWILIO_ACCOUNT_SID", "", config_values.plain_text, "Twilio account SID"),
        Setting("TWILIO_AUTH_TOKEN", "", config_values.plain_text, "Twilio auth token (signs webhooks)", secret=True),
        Setting("TWILIO_API_BASE", "", config_values.plain_text,
                "override of Twilio's REST base URL (tests point it at a local server)"),
        Setting("CALLCENTER_TWILIO_RING", "", config_values.plain_text,
                "comma-separated sip:/client: URIs the Twilio reply rings"),
        Setting("CALLCENTER_TWILIO_CALLER_ID", "", config_values.plain_text, "number outbound Twilio calls come from"),
        Setting("CALLCENTER_TWILIO_AGENT_URI", "client:{extension}", config_values.plain_text,
                "click-to-call: the receptionist's leg Twilio rings first ({extension} filled in)"),
        Setting("CALLCENTER_TWILIO_RECORD", "0", config_values.boolean,
                "record desk conversations of Twilio calls (tell callers; voicemail is always kept)"),
        Setting("TWILIO_API_KEY_SID", "", config_values.plain_text,
                "Twilio API key (SK…) that signs the desks' Voice SDK access tokens"),
        Setting("TWILIO_API_KEY_SECRET", "", config_values.plain_text, "secret of that API key", secret=True),
        Setting("TWILIO_TWIML_APP_SID", "", config_values.plain_text,
                "Twilio TwiML app (AP…) whose voice URL is /webhooks/twilio/softphone: the desks' calls"),
        Setting("CALLCENTER_GENERIC_SECRET", "", config_values.plain_text, "HMAC secret of the generic JSON webhook",
                secret=True),
        Setting("CALLCENTER_ASTERISK_SECRET", "", config_values.plain_text, "HMAC secret of Asterisk HTTP posts",
                secret=True),
        Setting("CALLCENTER_AMI_HOST", "127.0.0.1", config_values.plain_text, "Asterisk AMI host for ami-bridge"),
        Setting("CALLCENTER_AMI_PORT", "5038", config_values.positive_int, "Asterisk AMI port"),
        Setting("CALLCENTER_AMI_USER", "", config_values.plain_text, "Asterisk AMI user"),
        Setting("CALLCENTER_AMI_PASSWORD", "", config_values.plain_text, "Asterisk AMI password", secret=True),
        Setting("CALLCENTER_AMI_CONTEXT", "from-internal", config_values.plain_text,
                "click-to-call: dial-plan context the patient's number is dialed in"),
        Setting("CALLCENTER_AMI_AGENT_CHANNEL", "PJSIP/{extension}", config_values.plain_text,
                "click-to-call: the receptionist's channel the PBX rings first"),
        Setting("CALLCENTER_CLICK_TO_CALL", "auto", config_values.click_to_call,
                "click-to-call through twilio, ami (Asterisk) or off; auto = whichever is set up"),
        Setting("CALLCENTER_DESK_LOCK_MINUTES", "5", config_values.positive_int,
                "the desk locks after this many idle minutes (password to unlock)"),
        Setting("CALLCENTER_SESSION_IDLE_MINUTES", "30", config_values.positive_int,
                "a session with no request for this long ends (sign in again)"),
        Setting("CALLCENTER_SESSION_HOURS", "12", config_values.positive_int,
                "a session ends this many hours after sign-in, whatever happens (one shift)"),
        Setting("CALLCENTER_ZADARMA_SECRET", "", config_values.plain_text, "Zadarma API secret", secret=True),
        Setting("CALLCENTER_MANGO_API_KEY", "", config_values.plain_text, "Mango Office VPBX API key", secret=True),
        Setting("CALLCENTER_MANGO_SALT", "", config_values.plain_text, "Mango Office VPBX API salt", secret=True),
        Setting("CALLCENTER_MANGO_CLOCK_SHIFT", "0", config_values.clock_shift,
                "seconds to subtract from Mango time stamps (10800 if they prove to be UTC+3)"),
        Setting("CALLCENTER_YEASTAR_SECRET", "", config_values.plain_text, "Yeastar webhook secret", secret=True),
        Setting("CALLCENTER_TELNYX_PUBLIC_KEY", "", config_values.plain_text, "Telnyx Ed25519 public key (base64)"),
        Setting("CALLCENTER_3CX_SECRET", "", config_values.plain_text, "key 3CX sends with CRM lookups", secret=True),
        Setting("CALLCENTER_3CX_CLINIC", "0", config_values.non_negative_int,
                "id of the clinic whose patients the 3CX lookup names (0 = the first clinic)"),
        Setting("CALLCENTER_WEBTRACKING_RATE", "120", config_values.positive_int,
                "number requests a minute from one address to one pool (the site snippet)"),
        Setting("CALLCENTER_METRICA_API_URL", "https://api-metrika.yandex.net", config_values.plain_text,
                "Yandex Metrica management API (offline call conversions)"),
        Setting("CALLCENTER_GOOGLE_ADS_API_URL", "https://googleads.googleapis.com/v20", config_values.plain_text,
                "Google Ads REST API with its version (offline click conversions)"),
        Setting("CALLCENTER_GOOGLE_OAUTH_URL", "https://www.googleapis.com/oauth2/v3/token", config_values.plain_text,
                "Google OAuth token endpoint (an access token from the clinic's refresh token)"),
        Setting("CALLCENTER_EVENTS_RETRY_SECONDS", "10", config_values.positive_int,
                "events out: wait after a failed delivery, doubled at each further failure"),
        Setting("CALLCENTER_EVENTS_RETRY_MAX", "600", config_values.positive_int,
                "events out: the longest wait between two delivery attempts, in seconds"),
        Setting("CALLCENTER_EVENTS_GIVE_UP_HOURS", "72", config_values.positive_int,
                "events out: hours after which an undelivered event is given up (replay resends it)"),
        Setting("CALLCENTER_UPLOAD_RETRY_SECONDS", "60,300,900,3600", config_values.day_list,
                "waits between retries of a failed conversions upload (seconds, comma-separated)"),
        Setting("CALLCENTER_ATTRIBUTION_DAYS", "14", config_values.positive_int,
                "analytics: a booking made this many days after a call still counts for the call"),
        Setting("CALLCENTER_REPORT_THREADS", "2", config_values.positive_int,
                "analytics: reports of one page built at once, each on a database connection of "
                "its own (about the server's cores)"),
        Setting("CALLCENTER_INVITATIONS_TARGET", "50", config_values.positive_int,
                "analytics: monthly target of phone invitations that came, per receptionist"),
        Setting("CALLCENTER_CALL_HOURS", "09:00-21:00", config_values.time_window,
                "outbound calls only in this window, patient's local time"),
        Setting("CALLCENTER_CONFIRM_WINDOW", "16:00-20:00", config_values.time_window,
                "evening window for next-day confirmation calls"),
        Setting("CALLCENTER_CONFIRM_MORNING", "09:00-11:00", config_values.time_window,
                "morning window for the second half of a day that follows days off"),
        Setting("CALLCENTER_PLAN_SECONDS", "60", config_values.positive_int,
                "how often workers build due lists and queue due calls"),
        Setting("CALLCENTER_LISTS_AT", "07:00", config_values.clock_time,
                "local time the daily call lists (confirmations, follow-ups, recalls) are built"),
        Setting("CALLCENTER_FOLLOWUP_SCHEDULE", "", config_values.followup_schedule,
                "override of follow-up days per treatment, e.g. filling=1,90,180,360;cleaning=1,180"),
        Setting("CALLCENTER_RECALL_DAYS", "180,360", config_values.day_list,
                "preventive check-up invitations, days after the last treatment"),
        Setting("CALLCENTER_DIAL_MODE", "preview", config_values.dial_mode,
                "how new campaigns dial: preview (desk calls by hand), twilio or sip"),
        Setting("CALLCENTER_DIAL_CPS", "1", config_values.positive_float, "calls per second per trunk"),
        Setting("CALLCENTER_DIAL_CHANNELS", "4", config_values.positive_int, "simultaneous outbound calls per trunk"),
        Setting("CALLCENTER_DIAL_MAX_ATTEMPTS", "3", config_values.positive_int, "attempts per task before giving up"),
        Setting("CALLCENTER_DIAL_BACKOFF", "busy=600,no_answer=1800,machine=3600,hung_up=1800,failed=900",
                config_values.backoff, "seconds before the next attempt, per outcome"),
        Setting("CALLCENTER_DIAL_MACHINE", "message", config_values.machine_policy,
                "answering machine: message (leave a short one) or retry"),
        Setting("CALLCENTER_DIAL_RING_SECONDS", "30", config_values.positive_int, "ring time before no-answer"),
        Setting("CALLCENTER_DIAL_TALK_SECONDS", "60", config_values.positive_int,
                "longest an answered automatic call lasts (message, key, thanks)"),
        Setting("CALLCENTER_DIAL_REQUEUE_AFTER", "600", config_values.positive_int,
                "seconds before a due task whose dial job vanished is queued again"),
        Setting("CALLCENTER_DIAL_ATTEMPT_TIMEOUT", "300", config_values.positive_int,
                "seconds after which an attempt with no result is closed as failed"),
        Setting("CALLCENTER_SIP_SERVER", "", config_values.plain_text, "IP-PBX host the SIP dialer registers with"),
        Setting("CALLCENTER_SIP_PORT", "5060", config_values.positive_int, "IP-PBX SIP port (UDP)"),
        Setting("CALLCENTER_SIP_USER", "", config_values.plain_text, "extension the SIP dialer registers as"),
        Setting("CALLCENTER_SIP_PASSWORD", "", config_values.plain_text, "password of that extension", secret=True),
        Setting("CALLCENTER_SIP_MY_IP", "127.0.0.1", config_values.plain_text,
                "this machine's address on the PBX network (pyVoIP puts it in SDP)"),
        Setting("CALLCENTER_SMS_PROVIDER", "", config_values.sms_provider,
                "text messages: empty (none sent), twilio or smsc"),
        Setting("CALLCENTER_SMS_SENDER", "", config_values.plain_text,
                "the number (Twilio) or registered sender name (SMSC) texts come from"),
        Setting("CALLCENTER_SMS_WINDOW", "09:00-21:00", config_values.time_window,
                "hours of the patient's day in which texts may be sent"),
        Setting("CALLCENTER_SMS_CONFIRMATION", "before_call", config_values.sms_confirmation,
                "visit confirmation by text: off, alone, before_call or fallback"),
        Setting("CALLCENTER_SMS_REPLY_WAIT", "120", config_values.non_negative_int,
                "minutes the confirmation call waits for a reply to the text (before_call)"),
        Setting("CALLCENTER_SMS_RATE", "30", config_values.positive_float,
                "texts per second the provider account accepts"),
        Setting("CALLCENTER_SMS_MAX_ATTEMPTS", "3", config_values.positive_int,
                "attempts to hand a text to the provider before it counts as failed"),
        Setting("CALLCENTER_SMS_RETRY_SECONDS", "300", config_values.positive_int,
                "seconds between attempts to hand a text to the provider"),
        Setting("CALLCENTER_SMS_SEND_TIMEOUT", "120", config_values.positive_int,
                "seconds after which a text claimed by a lost worker is checked with the provider"),
        Setting("CALLCENTER_SMS_PRICE", "0", config_values.non_negative_float,
                "price of one message segment in the clinic's currency (cost preview and figures)"),
        Setting("TWILIO_MESSAGING_SERVICE_SID", "", config_values.plain_text,
                "Twilio Messaging Service (MG…) texts are sent through; else CALLCENTER_SMS_SENDER"),
        Setting("CALLCENTER_SMSC_LOGIN", "", config_values.plain_text, "SMSC.ru account login"),
        Setting("CALLCENTER_SMSC_PASSWORD", "", config_values.plain_text, "SMSC.ru account password",
                secret=True),
        Setting("CALLCENTER_SMSC_API_BASE", "https://smsc.ru", config_values.plain_text,
                "SMSC.ru API base URL (another host, e.g. a test server)"),
        Setting("CALLCENTER_SMSC_SECRET", "", config_values.plain_text,
                "secret of the checksum SMSC.ru adds to its callbacks (sha1=… in the handler URL)",
                secret=True),
        Setting("CALLCENTER_SIP_REGISTER_SECONDS", "10", config_values.positive_int,
                "wait for the PBX's answer to a REGISTER (and to the unregister)"),
        Setting("CALLCENTER_SIP_INVITE_SECONDS", "8", config_values.positive_int,
                "wait for the PBX's first answer to a call's INVITE"),
        Setting("CALLCENTER_SIP_BYE_SECONDS", "4", config_values.positive_int,
                "wait for the answer to a BYE or CANCEL"),
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


def set_in_environment(env: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the variable is given (environment or .env) rather than left to its default."""
    given = os.environ if environ is None else environ
    return env in given or env in _read_dotenv(Path.cwd() / ".env")


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
