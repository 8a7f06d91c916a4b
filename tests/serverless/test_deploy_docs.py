"""The deployment guide describes what is deployed: every function group, the stack's own description, the
Hobby to Pro cron change (a line that really is vercel.json's batch cron, every minute), and the log queries."""

from __future__ import annotations

import json
import re

from tests.serverless.serverless_support import FUNCTIONS, REPO

GUIDE = REPO / "infra" / "DEPLOY.md"


def _groups() -> list[str]:
    return sorted(p.name for p in FUNCTIONS.iterdir() if (p / "app.py").is_file())


def test_the_guide_has_a_row_for_every_group_and_counts_them_right() -> None:
    text = GUIDE.read_text()
    groups = _groups()
    assert len(groups) == 7
    for group in groups:
        assert re.search(rf"^\| `{group}` +\|", text, re.M), f"{group} has no row in {GUIDE.name}"
    assert not re.search(r"three\s+functions", text) and re.search(r"seven\s+functions", text)


def test_the_template_describes_the_rest_api_it_builds() -> None:
    head = (REPO / "template.yaml").read_text().split("Parameters:", 1)[0]
    assert "Function URL" not in head and "HTTP API" not in head and "REST API" in head


def test_the_pro_cron_line_is_vercels_batch_cron_every_minute() -> None:
    text = GUIDE.read_text()
    (block,) = re.findall(r"```json\n(.*?)```", text, re.S)
    line = json.loads(block.strip().rstrip(","))
    config = json.loads((REPO / "vercel.json").read_text())
    paths = {c["path"] for c in config["crons"]}
    assert line == {"path": "/internal/batches/tick", "schedule": "* * * * *"} and line["path"] in paths


def test_reading_the_logs_names_the_fields_the_line_carries() -> None:
    text = GUIDE.read_text()
    section = text.split("### Reading the logs", 1)[1].split("\n### ", 1)[0]
    for field in ("request_id", "tenant", "account", "model", "status", "latency_ms", "input_tokens"):
        assert field in section, field
    assert "Logs Insights" in section and "message.latency_ms" in section and "aws_request_id" in section
    assert "key=value" in section and "tenant=key-" in section
