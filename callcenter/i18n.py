"""Interface texts in ru / en / zh. Modules add their own keys to MESSAGES; `t` falls back to English."""

from __future__ import annotations

from flask import request

from .config import LOCALES

MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"ru": "Регистратура", "en": "Front desk", "zh": "前台"},
    "login.title": {"ru": "Вход", "en": "Sign in", "zh": "登录"},
    "login.login": {"ru": "Логин", "en": "Login", "zh": "用户名"},
    "login.password": {"ru": "Пароль", "en": "Password", "zh": "密码"},
    "login.submit": {"ru": "Войти", "en": "Sign in", "zh": "登录"},
    "login.failed": {"ru": "Неверный логин или пароль", "en": "Wrong login or password",
                     "zh": "用户名或密码错误"},
    "login.throttled": {"ru": "Слишком много попыток, подождите минуту",
                        "en": "Too many attempts, wait a minute", "zh": "尝试次数过多，请稍候一分钟"},
    "nav.logout": {"ru": "Выйти", "en": "Sign out", "zh": "退出"},
    "nav.desk": {"ru": "Звонки", "en": "Desk", "zh": "来电"},
    "nav.marketing": {"ru": "Аналитика", "en": "Analytics", "zh": "分析"},
    "nav.admin": {"ru": "Настройки", "en": "Admin", "zh": "管理"},
}


def t(key: str, locale: str) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry.get(locale) or entry.get("en") or key


def request_locale(default: str) -> str:
    """The signed-in staff member's language, else the browser's, else the clinic default."""
    from .auth import current_staff

    staff = current_staff()
    if staff is not None and staff.locale in LOCALES:
        return staff.locale
    best = request.accept_languages.best_match(LOCALES) if request else None
    return best or default
