"""The short load test: bench/load_bench.py against a real gunicorn, 8 clients for 5 s.

Only what must hold whatever the machine's speed is asserted: every acknowledged
submission is stored, nothing is stored twice or without an acknowledgement, and
no request got a 5xx. Latency is printed (``-s``), never asserted; the 60-second,
50-client figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import json

from bench import load_bench


def test_concurrent_submissions_through_api_and_forms_lose_nothing(database_url, tmp_path):
    result = load_bench.run(
        database_url, clients=8, duration=5, workers=2, instance=tmp_path / "instance"
    )
    print(json.dumps(result, indent=2, ensure_ascii=False))
    statuses = result["statuses"]
    assert result["errors"] == []
    assert result["status_5xx"] == 0 and result["status_4xx"] == 0
    # Both ways of submitting were exercised and acknowledged.
    assert statuses.get("api_submit 201", 0) > 0
    assert statuses.get("form_submit 303", 0) > 0
    assert result["acknowledged"] == statuses["api_submit 201"] + statuses["form_submit 303"]
    assert result["acknowledged_twice"] == 0
    assert result["lost"] == 0 and result["extra"] == 0
    assert result["stored"] == result["acknowledged"]
    assert statuses.get("healthz 200", 0) > 0
