"""Every public path in vercel.json and template.yaml reaches exactly one function, and that function's app
really serves it (its own route table, imported the way each platform imports it).

On Vercel a rewrite keeps the URL the client asked for (the matched parameters are added to the query), so
the app sees the public path; on AWS one REST API routes every path to its function (streaming groups with
response-streaming invocations), and the app sees the public path without the stage.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.routing import Match

from tests.serverless.serverless_support import FUNCTIONS, REPO

WEB_ADAPTER = re.compile(r"arn:aws:lambda:\$\{AWS::Region\}:753240598075:layer:LambdaAdapterLayerX86:")
# Concrete values for path parameters, including a model id with a slash (the route takes the rest of the path).
SAMPLES = {
    "model_id": ["qwen3-max", "Qwen/Qwen3-Coder-480B"],
    "account_id": ["emu0-1a2b3c"],
    "file_id": ["file-abc123", "file_011CNha8iCJcU1wXNR6q4V8w"],
    "response_id": ["resp_0123abcd"],
    "batch_id": ["batch_abc123", "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF"],
    "video_id": ["video_0190a1b2c3d4e5f6a7b8c9d0"],
    "token": ["eyJrIjoiaW1hZ2VzL3QvYS5wbmcifQ.c2ln"],
}


# ---- what the apps serve --------------------------------------------------------------------------------
def endpoints() -> list[tuple[str, str, str]]:
    """(function, method, concrete path) for every route of every group each function's app mounts."""
    from qwen_server.app.factory import ALWAYS, ROUTES

    found = []
    for function in function_groups():
        for group in served_groups(function):
            for method, template, _ in ROUTES.get(group, []):
                found += [(function, method, path) for path in concrete(template)]
    for method, template, _ in ALWAYS:
        found += [("meta", method, path) for path in concrete(template)]
    return found


def concrete(template: str) -> list[str]:
    match = re.search(r"\{(\w+)(?::\w+)?\}", template)
    if match is None:
        return [template]
    return [
        path
        for value in SAMPLES[match.group(1)]
        for path in concrete(template[: match.start()] + value + template[match.end() :])
    ]


def function_groups() -> list[str]:
    return sorted(p.name for p in FUNCTIONS.iterdir() if (p / "app.py").is_file())


def served_groups(function: str) -> tuple[str, ...]:
    """The route groups functions/<function>/app.py mounts (build_app records them); its own name when the
    factory has no such group yet (skip_unbuilt reports that)."""
    from qwen_server.app.factory import ROUTES

    if function not in ROUTES:
        return (function,)
    groups: tuple[str, ...] = function_app(function).state.groups
    return groups


def serves(app: Any, method: str, path: str) -> bool:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in app.routes)


@cache
def function_app(group: str) -> Any:
    """functions/<group>/app.py as the Lambda runtime and run.sh load it (by file, as top-level `app`)."""
    spec = importlib.util.spec_from_file_location(f"function_{group}_app", FUNCTIONS / group / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


@pytest.fixture
def vercel_import(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import api/<name>.py as Vercel does: the project root on sys.path, the file's module executed."""
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv("QWEN_SERVER_SHARED_DIR", str(REPO / "shared"))

    def load(name: str) -> Any:
        return importlib.import_module(f"api.{name}").app

    return load


def skip_unbuilt(groups: set[str]) -> None:
    from qwen_server.app.factory import ROUTES

    missing = sorted(g for g in groups if g not in ROUTES)
    if missing:
        pytest.skip(f"functions written ahead of their routes: {missing} (build_app has no such group yet)")


# ---- vercel.json ----------------------------------------------------------------------------------------
def vercel() -> dict[str, Any]:
    config: dict[str, Any] = json.loads((REPO / "vercel.json").read_text())
    return config


def vercel_pattern(source: str) -> re.Pattern[str]:
    """path-to-regexp as Vercel compiles rewrite sources (checked against @vercel/routing-utils below)."""
    parts = []
    for segment in source.strip("/").split("/"):
        name = re.fullmatch(r":(\w+)([+*]?)", segment)
        if name is None:
            parts.append(re.escape(segment))
        else:
            parts.append("[^/]+(?:/[^/]+)*" if name.group(2) else "[^/]+")
    return re.compile("^/" + "/".join(parts) + "$")


def test_vercel_every_public_path_reaches_one_function_that_serves_it(vercel_import: Any) -> None:
    config = vercel()
    skip_unbuilt(set(function_groups()))
    rewrites = [(vercel_pattern(r["source"]), r["destination"]) for r in config["rewrites"]]
    for group, method, path in endpoints():
        hits = [dest for pattern, dest in rewrites if pattern.match(path)]
        assert len(hits) == 1, f"{method} {path} matches {len(hits)} rewrites: {hits}"
        name = hits[0].removeprefix("/api/")
        assert name == group, f"{path} goes to api/{name}.py but group {group!r} serves it"
        assert serves(vercel_import(name), method, path), f"api/{name}.py does not serve {method} {path}"
    for pattern, destination in rewrites:
        assert any(pattern.match(p) for _, _, p in endpoints()), f"rewrite to {destination} serves nothing"


def test_vercel_one_configured_function_per_group() -> None:
    config = vercel()
    files = {p.name for p in (REPO / "api").glob("*.py") if not p.name.startswith("_")}
    assert {Path(k).name for k in config["functions"]} == files == {f"{g}.py" for g in function_groups()}
    for name, settings in config["functions"].items():
        assert (REPO / name).is_file()
        assert 1 <= settings["maxDuration"] <= 800 and 128 <= settings["memory"] <= 3009, name
        text = (REPO / name).read_text()
        assert f"from functions.{Path(name).stem}.app import app" in text, "a re-export, nothing more"
    # the scheduled workers: crons calling GET on tick routes a function serves (CRON_SECRET-protected)
    assert {c["path"] for c in config["crons"]} == {"/internal/batches/tick", "/internal/cron/videos"}
    assert serves(function_app("batches"), "GET", "/internal/batches/tick")
    for cron in config["crons"]:
        assert any(p == cron["path"] and m == "GET" for _, m, p in endpoints()), cron


def test_vercel_crons_deploy_on_the_hobby_plan() -> None:
    """Hobby refuses a deployment whose cron runs more than once a day ("Hobby accounts are limited to daily
    cron jobs"): each schedule names one minute of one hour (the self-triggered ticks do the rest)."""
    for cron in vercel()["crons"]:
        minute, hour, *days = cron["schedule"].split()
        assert minute.isdigit() and hour.isdigit() and len(days) == 3, cron
        assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24, cron


def test_template_batches_worker_runs_every_minute_and_may_kick_itself() -> None:
    props = aws_functions()["batches"]
    schedule = props["Events"]["WorkerSchedule"]
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert json.loads(schedule["Properties"]["Input"]) == {"batches_tick": True}
    policies = json.dumps(props["Policies"])
    assert "LambdaInvokePolicy" in policies and "S3CrudPolicy" in policies
    assert "S3CrudPolicy" in json.dumps(aws_functions()["files"]["Policies"])


def test_every_blob_expiry_step_has_its_lifecycle_rule_and_writers_may_tag() -> None:
    from qwen_server.blob.expiry import LADDER_DAYS, TAG, tag_value

    rules = template()["Resources"]["BlobBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    tagged = {
        (rule["TagFilters"][0]["Key"], rule["TagFilters"][0]["Value"]): rule["ExpirationInDays"]
        for rule in rules
        if rule.get("TagFilters") and rule["Status"] == "Enabled"
    }
    assert tagged == {(TAG, tag_value(days)): days for days in LADDER_DAYS}
    writers = {group for group, props in aws_functions().items() if "S3CrudPolicy" in json.dumps(props["Policies"])}
    assert {"chat", "files", "batches", "images"} <= writers
    for group in writers:
        assert "s3:PutObjectTagging" in json.dumps(aws_functions()[group]["Policies"]), group


def test_vercel_patterns_agree_with_vercels_own_compiler() -> None:
    """Cross-check `vercel_pattern` with @vercel/routing-utils when it is installed (see infra/DEPLOY.md)."""
    modules = os.environ.get("VERCEL_ROUTING_UTILS", str(REPO / ".venv-tools" / "vercel-routing"))
    node = shutil.which("node")
    if node is None or not (Path(modules) / "node_modules" / "@vercel" / "routing-utils").is_dir():
        pytest.skip(
            "node or @vercel/routing-utils absent (npm install --prefix .venv-tools/vercel-routing @vercel/routing-utils)"
        )
    script = (
        "const ru = require('@vercel/routing-utils');"
        "const cfg = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));"
        "const out = ru.getTransformedRoutes({rewrites: cfg.rewrites});"
        "if (out.error) { throw new Error(JSON.stringify(out.error)); }"
        "console.log(JSON.stringify(out.routes.filter(r => r.src)));"
    )
    env = {**os.environ, "NODE_PATH": str(Path(modules) / "node_modules")}
    done = subprocess.run(
        [node, "-e", script, str(REPO / "vercel.json")], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    compiled = json.loads(done.stdout)
    for _, method, path in endpoints():
        theirs = [r["dest"].split("?")[0] for r in compiled if re.match(r["src"], path)]
        ours = [r["destination"] for r in vercel()["rewrites"] if vercel_pattern(r["source"]).match(path)]
        assert theirs == ours, f"{method} {path}: Vercel routes to {theirs}, we assumed {ours}"


# ---- template.yaml --------------------------------------------------------------------------------------
class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, !GetAtt) as {"Fn": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _tag)


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((REPO / "template.yaml").read_text(), Loader=_CfnLoader)
    return loaded


def aws_functions() -> dict[str, dict[str, Any]]:
    """group -> the function's Properties, keyed by the functions/<group>/ its CodeUri names."""
    found = {}
    for resource in template()["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            group = Path(resource["Properties"]["CodeUri"]).name
            assert group not in found, f"two functions deploy functions/{group}"
            found[group] = resource["Properties"]
    return found


def api_pattern(path: str) -> re.Pattern[str]:
    """An API Gateway resource path (`{name}` one segment, `{name+}` the rest) as a regex."""
    regex = re.sub(r"\\\{\w+\\\+\\\}", "[^/]+(?:/[^/]+)*", re.escape(path))
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", regex) + "$")


def api_routes() -> list[tuple[str, str, re.Pattern[str], dict[str, Any]]]:
    """(group, method, path pattern, event properties) for every REST API event of every function."""
    return [
        (
            group,
            event["Properties"]["Method"].upper(),
            api_pattern(event["Properties"]["Path"]),
            event["Properties"],
        )
        for group, props in aws_functions().items()
        for event in props.get("Events", {}).values()
        if event["Type"] == "Api"
    ]


def streams(props: dict[str, Any]) -> bool:
    """A streaming group runs uvicorn under the Web Adapter (run.sh); a buffered one is Mangum's handler."""
    return bool(props["Handler"] == "run.sh")


def test_template_every_public_path_reaches_one_function_on_the_one_api() -> None:
    functions = aws_functions()
    assert set(functions) == set(function_groups()), "every function folder is deployed, and only those"
    skip_unbuilt(set(functions))
    routes = api_routes()
    for group, method, path in endpoints():
        hits = [g for g, m, pattern, _ in routes if m == method and pattern.match(path)]
        assert hits == [group], f"{method} {path} reaches {hits} on the REST API, expected [{group!r}]"
        assert serves(function_app(group), method, path), f"functions/{group} does not serve {method} {path}"
    for _, method, pattern, _ in routes:
        # HEAD is answered wherever GET is (Starlette adds it); API Gateway routes it separately
        wanted = "GET" if method == "HEAD" else method
        assert any(m == wanted and pattern.match(p) for _, m, p in endpoints()), f"{pattern.pattern} dead"
    assert all(props["RestApiId"] == {"Ref": "Api"} for *_, props in routes), "one API, so one base URL"


def test_template_streams_where_the_group_streams() -> None:
    doc = template()
    stage = doc["Resources"]["Api"]["Properties"]["StageName"]
    assert doc["Resources"]["Api"]["Type"] == "AWS::Serverless::Api"
    assert doc["Outputs"]["ApiUrl"]["Value"]["Sub"].endswith(f"/{stage}/")
    kinds = {r["Type"] for r in doc["Resources"].values()}
    assert "AWS::Serverless::HttpApi" not in kinds, "no second API: one base URL"
    for group, props in aws_functions().items():
        events = [e["Properties"] for e in props.get("Events", {}).values() if e["Type"] == "Api"]
        assert events, f"{group} is reachable through the API"
        assert "FunctionUrlConfig" not in props, "no per-function URL: the API is the one entry"
        if streams(props):
            for event in events:
                assert event["ResponseTransferMode"] == "RESPONSE_STREAM", (group, event["Path"])
                assert event["TimeoutInMillis"] <= min(900_000, props["Timeout"] * 1000)
            env = props["Environment"]["Variables"]
            # the Web Adapter passes the stage in the path; the app serves the public paths
            assert env["AWS_LWA_REMOVE_BASE_PATH"] == f"/{stage}"
        else:
            assert all("ResponseTransferMode" not in event for event in events), group


def test_template_streaming_and_buffered_functions_are_wired_as_designed() -> None:
    for group, props in aws_functions().items():
        if streams(props):
            assert (FUNCTIONS / group / "run.sh").is_file()
            assert os.access(FUNCTIONS / group / "run.sh", os.X_OK), "the Web Adapter executes run.sh"
            env = props["Environment"]["Variables"]
            assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
            assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
            assert any(WEB_ADAPTER.search(str(layer)) for layer in props["Layers"])
        else:
            assert props["Handler"] == "handler.handler" and (FUNCTIONS / group / "handler.py").is_file()
            assert not any(WEB_ADAPTER.search(str(layer)) for layer in props.get("Layers", []))
        policies = json.dumps(props["Policies"])
        assert "DynamoDBCrudPolicy" in policies and "AWSSecretsManagerGetSecretValuePolicy" in policies


def test_template_store_table_and_secrets() -> None:
    doc = template()
    table = doc["Resources"]["StateTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        ("pk", "S"),
        ("sk", "S"),
        ("lst", "S"),
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    from qwen_server.store._dynamodb_wire import index_definition

    assert table["GlobalSecondaryIndexes"] == [index_definition()]  # the index the store creates locally
    env = doc["Globals"]["Function"]["Environment"]["Variables"]
    assert env["STORE_URL"] == {"Sub": "dynamodb://${StateTable}?region=${AWS::Region}"}
    assert env["QWEN_SECRETS_ID"] == {"Ref": "RuntimeSecret"}
    assert not {"QWEN_ACCOUNTS", "GATEWAY_API_KEYS"} & set(env), "secrets travel as a pointer only"
    for props in aws_functions().values():
        assert not {"QWEN_ACCOUNTS", "GATEWAY_API_KEYS"} & set(
            props.get("Environment", {}).get("Variables", {})
        )
