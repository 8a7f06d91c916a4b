"""Image generation and edits on web accounts, through the openai SDK against the gateway and emulator
processes: URLs that serve our own PNGs, base64, sizes mapped to the web's ratios, n > 1, errors."""

from __future__ import annotations

import base64
import hashlib

import httpx
import openai
import pytest

from tests.images.media_helpers import Recording, assert_no_upstream_urls, png_size
from tests.processes import Service


@pytest.mark.parametrize(
    ("size", "pixels"),
    [
        ("1792x1024", (96, 54)),
        ("1024x1536", (60, 80)),
        ("1024x1024", (64, 64)),
        ("auto", (64, 64)),
        ("9:16", (54, 96)),
    ],
)
def test_b64_json_sizes_map_to_the_nearest_ratio(
    alice: openai.OpenAI, size: str, pixels: tuple[int, int]
) -> None:
    answer = alice.images.generate(
        model="wanx2.1-t2i-turbo",
        prompt="a lighthouse",
        size=size,  # type: ignore[arg-type]
        response_format="b64_json",
    )
    assert len(answer.data) == 1
    assert png_size(base64.b64decode(answer.data[0].b64_json or "")) == pixels


def test_n_two_urls_are_signed_gateway_links_serving_png(alice: openai.OpenAI, gateway: Service) -> None:
    answer = alice.images.generate(
        model="dall-e-3", prompt="two boats", n=2, size="1792x1024", quality="hd", style="vivid"
    )
    urls = [d.url or "" for d in answer.data]
    assert len(urls) == 2 and len(set(urls)) == 2
    for url in urls:
        assert url.startswith(f"{gateway.url}/v1/blobs/")
        fetched = httpx.get(url)  # no key header: the link itself is the credential
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
        assert png_size(fetched.content) == (96, 54)
    tampered = urls[0][:-3] + ("AAA" if not urls[0].endswith("AAA") else "BBB")
    assert httpx.get(tampered).status_code == 404


def test_edit_sends_the_image_and_returns_only_the_result(alice: openai.OpenAI, emulator: Service) -> None:
    source = alice.images.generate(model="qwen-image", prompt="a red door", response_format="b64_json")
    original = base64.b64decode(source.data[0].b64_json or "")
    before = httpx.get(f"{emulator.url}/_emulator/media").json()["turns"]
    edited = alice.images.edit(
        image=("door.png", original, "image/png"),
        mask=("mask.png", original, "image/png"),
        prompt="paint the door blue",
        model="gpt-image-1",
        size="1024x1536",
        response_format="b64_json",
    )
    assert len(edited.data) == 1  # the emulator echoes the input first; only the result comes back
    result = base64.b64decode(edited.data[0].b64_json or "")
    assert png_size(result) == (60, 80) and result != original
    after = httpx.get(f"{emulator.url}/_emulator/media").json()["turns"]
    assert after["image_edit"] == before.get("image_edit", 0) + 1  # the web's edit flow, with the image
    uploads = httpx.get(f"{emulator.url}/_emulator/files").json()["files"]
    assert hashlib.sha256(original).hexdigest() in {f["sha256"] for f in uploads}  # uploaded, then edited


def test_edit_with_several_images_and_url_answer(alice: openai.OpenAI, gateway: Service) -> None:
    first = base64.b64decode(
        alice.images.generate(prompt="a", response_format="b64_json").data[0].b64_json or ""
    )
    answer = alice.images.edit(
        image=[("a.png", first, "image/png"), ("b.png", first, "image/png")], prompt="merge"
    )
    assert (answer.data[0].url or "").startswith(f"{gateway.url}/v1/blobs/")
    assert png_size(httpx.get(answer.data[0].url or "").content) == (64, 64)


def test_bad_input_gets_openai_errors(alice: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        alice.images.generate(model="no-such-painter", prompt="x")
    assert unknown.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as too_many:
        alice.images.generate(prompt="x", n=5)
    assert too_many.value.body["param"] == "n"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as size:
        alice.images.generate(prompt="x", size="huge")  # type: ignore[arg-type]
    assert size.value.body["param"] == "size"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as not_image:
        alice.images.edit(image=("notes.txt", b"hello", "text/plain"), prompt="x")
    assert not_image.value.body["param"] == "image"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=str(alice.base_url), api_key="wrong", max_retries=0).images.generate(
            prompt="x"
        )


def test_no_client_ever_saw_an_upstream_url_or_key(recording: Recording, emulator: Service) -> None:
    """Runs after the other tests of the module: every body its clients received."""
    assert len(recording.bodies) > 10
    assert_no_upstream_urls(recording, emulator)
