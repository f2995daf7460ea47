"""The test processes' shared generated code (tests/compiled_once.py) is what each app
would have generated itself, so no test sees an app that production would not run."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing.rules import Rule

from tests import compiled_once


def test_every_rules_shared_builder_is_the_one_it_would_compile(app: Flask):
    # Another app first, so that this one's builders come from the shared store.
    from evalsys import create_app

    create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": app.config["DATABASE_URL"]})
    assert compiled_once._BUILDERS, "the hook is installed"
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 50
    for rule in rules:
        for append_unknown, bound in ((False, rule._build), (True, rule._build_unknown)):
            fresh = compiled_once._make_builder(rule, append_unknown)
            assert bound.__self__ is rule
            assert bound.__func__.__code__ == fresh.__code__, rule.rule
            assert bound.__func__.__defaults__ == fresh.__defaults__, rule.rule
    # A default written into the URL is part of the key: two rules differing only there
    # get different builders.
    with app.test_request_context():
        one = Rule("/x/<int:n>", defaults={"n": 1}, endpoint="one")
        two = Rule("/x/<int:n>", defaults={"n": 2}, endpoint="two")
        probe = Flask("probe")
        probe.url_map.add(one)
        probe.url_map.add(two)
        assert one.build({})[1] == "/x/1"
        assert two.build({})[1] == "/x/2"


def test_a_shared_template_is_the_code_it_would_compile(app: Flask, client):
    assert app.jinja_env.bytecode_cache is compiled_once._TEMPLATES
    assert client.get("/login").status_code == 200  # base.html compiled, or reused
    environment = app.jinja_env
    source, filename, _ = environment.loader.get_source(environment, "base.html")
    shared = compiled_once._TEMPLATES.get_bucket(environment, "base.html", filename, source)
    assert shared.code is not None
    assert shared.code == environment.compile(source, "base.html", filename)
    # An edited template is compiled again, not served from the store.
    edited = compiled_once._TEMPLATES.get_bucket(environment, "base.html", filename, source + " ")
    assert edited.code is None
