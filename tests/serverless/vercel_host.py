"""A stand-in for Vercel's router in front of the project's Python functions, as one local process.

    python vercel_host.py PORT

Imports every function of vercel.json the way Vercel's Python runtime does (the project root on sys.path,
`api/<name>.py`'s `app`), routes each request by the `rewrites` (path-to-regexp sources, the URL kept as the
client sent it) and serves them with uvicorn. No lifespan runs, as on Vercel; each function keeps its own
runtime, as separate Vercel functions do. The environment is the functions' (VERCEL=1 and so on).
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def pattern(source: str) -> re.Pattern[str]:
    parts = []
    for segment in source.strip("/").split("/"):
        name = re.fullmatch(r":(\w+)([+*]?)", segment)
        if name is None:
            parts.append(re.escape(segment))
        else:
            parts.append("[^/]+(?:/[^/]+)*" if name.group(2) else "[^/]+")
    return re.compile("^/" + "/".join(parts) + "$")


def build() -> Any:
    sys.path.insert(0, str(REPO))
    config = json.loads((REPO / "vercel.json").read_text())
    apps = {
        f"/{Path(name).with_suffix('')}": importlib.import_module(
            str(Path(name).with_suffix("")).replace("/", ".")
        ).app
        for name in config["functions"]
    }
    routes = [(pattern(r["source"]), apps[r["destination"]]) for r in config["rewrites"]]

    async def router(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        for compiled, app in routes:
            if compiled.match(scope["path"]):
                await app(scope, receive, send)
                return
        await send({"type": "http.response.start", "status": 404, "headers": [(b"x-vercel-error", b"NOT_FOUND")]})
        await send({"type": "http.response.body", "body": b"The page could not be found"})

    return router


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(build(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
