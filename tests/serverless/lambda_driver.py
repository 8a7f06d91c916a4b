"""Run a function's Lambda handler as the managed Python runtime would, without Docker.

    python lambda_driver.py FUNCTION_DIR MODULE.ATTR EVENTS_JSON OUT_JSON

The function folder goes first on sys.path (it is /var/task on Lambda), the handler module is imported once
(the cold start), then every event is invoked in order in the same process (warm invocations). The
responses and which heavy modules ended up imported are written to OUT_JSON; stdout keeps the function's
own output (access-log lines, EMF metrics).
"""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

WATCHED = ("boto3", "botocore", "aws_lambda_powertools", "mangum", "redis", "uvicorn")


class Context:
    """The few LambdaContext attributes libraries read."""

    function_name = "local-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:local-function"
    log_group_name = "/aws/lambda/local-function"
    log_stream_name = "local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def main(argv: list[str]) -> None:
    function_dir, target, events_path, out_path = argv
    sys.path.insert(0, function_dir)
    module_name, _, attribute = target.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    events: list[dict[str, Any]] = json.loads(Path(events_path).read_text())
    responses = [handler(event, Context()) for event in events]
    modules = {name: name in sys.modules for name in WATCHED}
    Path(out_path).write_text(json.dumps({"responses": responses, "modules": modules}))


if __name__ == "__main__":
    main(sys.argv[1:])
