"""Code the framework generates for each app, generated once per test process.

Every test creates its own app (its own database, config and instance folder), and
creating an app compiles the same things again: Werkzeug turns each of the ~800 URL
rules into a Python function that builds its URL (``ast`` + ``compile``), and Jinja
lexes, parses and compiles every template the test renders. That was about a fifth of
the CPU time of tests/accounts and tests/security, the same work over and over.

These hooks keep the generated code and hand it to the next app, in the test process
only (production is untouched: each app there is created once):

- a rule's URL builder depends only on the rule's text, its parsed parts, its defaults
  and whether unknown values are appended as a query string: the same key gives the
  same function (unbound; each rule still binds it to itself, and its own converters
  are read through ``self`` at call time);
- a template's code is kept in a Jinja bytecode cache (in memory, the code objects
  themselves), checked against the template's source checksum (an edited template
  compiles again) and keyed also by the environment settings that shape the code.

Nothing else is shared: each app keeps its own rules, converters, Jinja environment,
globals, filters and translations.
"""

from __future__ import annotations

import typing as t
from types import CodeType

from flask import Flask
from jinja2 import Environment
from jinja2.bccache import Bucket, BytecodeCache
from werkzeug.routing.rules import Rule

_BUILDERS: dict[tuple[t.Any, ...], t.Callable[..., tuple[str, str]]] = {}
_make_builder = Rule._compile_builder


def _builder_once(self: Rule, append_unknown: bool = True) -> t.Callable[..., tuple[str, str]]:
    defaults = self.defaults or {}
    # A default for a value in the rule is written into the builder as text (Werkzeug
    # converts it with the rule's converter); any other default is only a keyword name.
    written = tuple(
        (name, self._converters[name].to_url(value) if name in self._converters else None)
        for name, value in defaults.items()
    )
    key = (self.rule, tuple(self._trace), written, append_unknown)
    builder = _BUILDERS.get(key)
    if builder is None:
        builder = _BUILDERS[key] = _make_builder(self, append_unknown)
    return builder


class _TemplateCode(BytecodeCache):
    """Compiled templates in memory, by template and by the settings that shape the code."""

    def __init__(self) -> None:
        # The code objects themselves (immutable), by key, with the source checksum they
        # were compiled from: no marshalling to and fro.
        self._code: dict[str, tuple[str, CodeType]] = {}

    def get_bucket(
        self, environment: Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        settings = (
            tuple(sorted(environment.extensions)),
            environment.block_start_string,
            environment.block_end_string,
            environment.variable_start_string,
            environment.variable_end_string,
            environment.comment_start_string,
            environment.comment_end_string,
            environment.line_statement_prefix,
            environment.line_comment_prefix,
            environment.trim_blocks,
            environment.lstrip_blocks,
            environment.newline_sequence,
            environment.keep_trailing_newline,
            environment.optimized,
            environment.is_async,
            environment.autoescape
            if isinstance(environment.autoescape, bool)
            else getattr(environment.autoescape, "__qualname__", repr(environment.autoescape)),
            type(environment.finalize).__name__ if environment.finalize else None,
        )
        key = repr((settings, name, filename))
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        checksum, code = self._code.get(bucket.key, (None, None))
        if checksum == bucket.checksum:  # else the template changed: compiled again
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self._code[bucket.key] = (bucket.checksum, bucket.code)


_TEMPLATES = _TemplateCode()
_make_environment = Flask.create_jinja_environment


def _environment_sharing_code(self: Flask) -> Environment:
    environment = _make_environment(self)
    environment.bytecode_cache = _TEMPLATES
    return environment


def install() -> None:
    """Share generated code between the apps of this test process."""
    Rule._compile_builder = _builder_once  # type: ignore[method-assign]
    Flask.create_jinja_environment = _environment_sharing_code  # type: ignore[method-assign]
