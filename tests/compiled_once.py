"""What every test's new app would otherwise compile again: the URL builders of its ~170 routes
and its Jinja templates. The suite creates an app per test (well over a thousand), and this work,
done once per process in production, was a quarter of the suite's CPU on a 2-core machine.

Both caches give the app exactly what it would have compiled itself: a builder depends only on
the rule's text, parts and defaults; a template's bytecode is keyed by its file and checked
against its source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from werkzeug.routing import Rule


class _SharedBuilderRule(Rule):
    # A builder is a plain function taking the rule as its first argument (werkzeug binds it
    # with __get__), so one compiled for an equal rule serves them all.
    _builders: dict[Any, Callable[..., tuple[str, str]]] = {}

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        try:
            key = (append_unknown, self.rule, self.subdomain, self.host, tuple(self._trace),
                   tuple((self.defaults or {}).items()))
            hash(key)
        except TypeError:  # an unhashable default: compile it as werkzeug does
            return super()._compile_builder(append_unknown)
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = super()._compile_builder(append_unknown)
        return builder


class _Templates(BytecodeCache):
    """Compiled templates kept in this process, shared by every app's Jinja environment."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (code := self._code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _Templates()


def install() -> None:
    """Every Flask app made in this process from now on shares the compiled builders and templates
    (through Flask's own class-level settings for the rule class and the Jinja options)."""
    Flask.url_rule_class = _SharedBuilderRule
    Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _TEMPLATES}
