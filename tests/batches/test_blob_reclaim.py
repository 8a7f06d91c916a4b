"""Blobs are reclaimed: what the gateway writes for a while is written with its expiry, and `serve`'s background
sweep deletes local blobs whose expiry has passed. The gateway and the emulator are processes; the SDKs make
the blobs. Whether a blob is due is decided by the marks the store keeps (written here with a past date for
the sweep to find), never by waiting for real time to pass.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.batches.helpers import chat_line, jsonl, wait_for
from tests.processes import Service, emulator_accounts, start_gateway

DAY = 86400


@pytest.fixture(scope="module")
def blobs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gateway's DATA_DIR/blobs, holding, before it starts, one blob long past its expiry and one not."""
    root = tmp_path_factory.mktemp("gw") / "data" / "blobs"
    for name, due in (("old.png", 1_000_000_000), ("fresh.png", 4_000_000_000)):
        (root / "images" / "t").mkdir(parents=True, exist_ok=True)
        (root / "images" / "t" / name).write_bytes(b"png")
        (root / ".expiry" / "images" / "t").mkdir(parents=True, exist_ok=True)
        (root / ".expiry" / "images" / "t" / name).write_text(f"{due}.000")
    (root / "files" / "t").mkdir(parents=True)
    (root / "files" / "t" / "unmarked").write_bytes(b"kept until deleted")
    return root


@pytest.fixture(scope="module")
def gateway(emulator: Service, blobs_dir: Path) -> Iterator[Service]:
    env = {
        "GATEWAY_API_KEYS": "k",
        "DATA_DIR": str(blobs_dir.parent),
        "STORE_URL": f"sqlite:///{blobs_dir.parent / 'state.db'}",
        "BATCH_CHUNK_LINES": "2",
    }
    service = start_gateway(env, accounts=emulator_accounts(emulator, 2))
    yield service
    service.stop()


def mark(blobs_dir: Path, pattern: str) -> float | None:
    """The expiry written for the one blob matching `pattern`, or None when it has no mark."""
    found = list((blobs_dir / ".expiry").glob(pattern))
    assert len(found) <= 1, found
    return float(found[0].read_text()) if found else None


def test_serve_sweeps_expired_local_blobs_and_keeps_the_rest(gateway: Service, blobs_dir: Path) -> None:
    wait_for(lambda: (blobs_dir / "images" / "t" / "old.png").exists(), lambda there: not there, 60)
    assert not (blobs_dir / ".expiry" / "images" / "t" / "old.png").exists()
    assert (blobs_dir / "images" / "t" / "fresh.png").read_bytes() == b"png"
    assert (blobs_dir / "files" / "t" / "unmarked").exists()


def test_what_the_gateway_writes_carries_its_expiry(gateway: Service, blobs_dir: Path) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    timed = client.files.create(
        file=("notes.txt", b"for an hour"),
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert timed.expires_at == timed.created_at + 3600
    assert mark(blobs_dir, f"files/*/{timed.id}") == timed.created_at + 3600
    kept = client.files.create(file=("keep.txt", b"until deleted"), purpose="user_data")
    assert kept.expires_at is None and mark(blobs_dir, f"files/*/{kept.id}") is None

    image = client.images.generate(model="dall-e-3", prompt="a lighthouse", size="1024x1024")
    assert image.data and image.data[0].url and httpx.get(image.data[0].url).status_code == 200
    made = [p for p in (blobs_dir / ".expiry" / "images").rglob("*.png") if p.parent.name != "t"]
    [image_mark] = [float(p.read_text()) for p in made]
    assert abs(image_mark - (time.time() + 3600)) < 600  # BLOB_LINK_SECONDS: with the link

    source = client.files.create(file=("in.jsonl", jsonl([chat_line("r1", "reclaimed")])), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_for(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "completed")
    assert done.output_file_id
    output = client.files.retrieve(done.output_file_id)
    assert output.expires_at == pytest.approx(done.created_at + 29 * DAY, abs=2)  # with the batch's record
    assert mark(blobs_dir, f"files/*/{done.output_file_id}") == pytest.approx(done.created_at + 29 * DAY, abs=2)
    assert json.loads(client.files.content(done.output_file_id).text)["custom_id"] == "r1"
    assert not list((blobs_dir / "batches").rglob("chunk-*"))  # the chunks went at once
