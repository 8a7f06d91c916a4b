"""Qwen's own BPE vocabulary as a `tiktoken.Encoding`, loaded on first use and kept for the process.

The vocabulary is `qwen.tiktoken` (151,643 base64 ranks) in the shared data folder (`shared/`, copied from the
`dashscope` package, Apache-2.0: see `shared/qwen.tiktoken.LICENSE`), which every deployment carries; the
package itself, and the 50 MB it pulls in, is not needed. Loading takes a few hundred milliseconds,
which is why nothing here runs at import time: a function's cold start never pays for it, only the first
request that counts tokens does. When the file or `tiktoken` is missing, `encoding()` returns None once and
for all, and the callers fall back to the characters-per-token rule.
"""

from __future__ import annotations

import base64
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from qwen_server.core.shared_data import shared_dir

if TYPE_CHECKING:
    import tiktoken

log = logging.getLogger(__name__)

# Qwen's pre-tokenizer: text is cut into these pieces before BPE; no token ever spans two of them.
PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"""
    r"""\s+(?!\S)|\s+"""
)
SPECIAL_START = (
    151_643  # the special tokens follow the ranks: <|endoftext|>, <|im_start|>, <|im_end|>, extras
)
VOCABULARY_FILE = "qwen.tiktoken"
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", *(f"<|extra_{i}|>" for i in range(205)))


def vocabulary_path() -> Path | None:
    """`qwen.tiktoken` in the shared data folder (None when it is missing)."""
    try:
        path = shared_dir() / VOCABULARY_FILE
    except FileNotFoundError:
        return None
    return path if path.is_file() else None


def read_ranks(path: Path) -> dict[bytes, int]:
    """`<base64 token> <rank>` per line."""
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def encoding() -> tiktoken.Encoding | None:
    """The encoding, built once per process; None when it cannot be (the reason is logged once).

    A caller that arrives while another thread (`preload`) builds it waits for that build."""
    if not _built:
        with _building:
            if not _built:
                _built.append(_build())
    return _built[0]


def ready() -> bool:
    """Whether `encoding()` would answer at once (built, or known to be missing)."""
    return bool(_built)


def preload() -> None:
    """Build the encoding in a background thread (once), so that no request waits for it."""
    global _preloading
    if not _built and not _preloading:
        _preloading = True
        threading.Thread(target=encoding, name="qwen-vocabulary", daemon=True).start()


def forget() -> None:
    """Drop the built encoding (tests that change where the vocabulary comes from)."""
    global _preloading
    with _building:
        _built.clear()
        _preloading = False


_built: list[tiktoken.Encoding | None] = []
_preloading = False
_building = threading.Lock()


def _build() -> tiktoken.Encoding | None:
    path = vocabulary_path()
    if path is None:
        log.warning(
            "token counts are estimates: qwen.tiktoken not found in the shared data folder (QWEN_SERVER_SHARED_DIR)"
        )
        return None
    try:
        import tiktoken

        return tiktoken.Encoding(
            name="qwen",
            pat_str=PATTERN,
            mergeable_ranks=read_ranks(path),
            special_tokens={token: SPECIAL_START + i for i, token in enumerate(SPECIAL_TOKENS)},
        )
    except (ImportError, OSError, ValueError) as exc:
        log.warning("token counts are estimates: cannot load %s (%s)", path, exc)
        return None
