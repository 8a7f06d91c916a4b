"""Token counts in Qwen's own vocabulary: against DashScope's reference tokenizer, streamed, and the fallback."""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_server.core import qwen_vocab, tokens
from qwen_server.core.tokens import TokenCounter, count_tokens, tokenizer

SAMPLES = [
    "Hello, world! 你好世界",
    "The quick brown fox jumps over the lazy dog.",
    "通义千问是阿里云研发的大语言模型。",
    "def f(x):\n    return x ** 2  # square\n\n\nprint(f(3))\n",
    "  leading spaces, trailing spaces   \n\n\r\n tabs\t\tand émigré naïve café",
    "こんにちは、世界。안녕하세요 🌍 1234567890",
]


@pytest.fixture(scope="module")
def reference() -> object:
    """DashScope's own Qwen tokenizer (an independent implementation over the same vocabulary)."""
    from dashscope import get_tokenizer

    return get_tokenizer("qwen-turbo")


def test_the_vocabulary_is_qwens_bpe() -> None:
    assert tokenizer() == "qwen-bpe"
    enc = qwen_vocab.encoding()
    assert enc is not None and enc.n_vocab == qwen_vocab.SPECIAL_START + len(qwen_vocab.SPECIAL_TOKENS)
    assert enc.encode_ordinary("Hello, world! 你好世界") == [9707, 11, 1879, 0, 220, 108386, 99489]


@pytest.mark.parametrize("text", SAMPLES)
def test_counts_match_dashscopes_tokenizer(reference: object, text: str) -> None:
    assert count_tokens(text) == len(reference.encode(text))  # type: ignore[attr-defined]


def test_cjk_is_not_one_token_a_character() -> None:
    assert count_tokens("你好世界") == 2  # 你好 and 世界 are single tokens in Qwen's vocabulary
    assert count_tokens("") == 0


def test_long_text_is_counted_whole(reference: object) -> None:
    text = " ".join(f"word{i} 单词{i}" for i in range(20_000))  # ~230,000 characters, several slices
    assert len(text) > 4 * tokens.LONG_TEXT
    assert count_tokens(text) == len(reference.encode(text))  # type: ignore[attr-defined]


def test_a_long_text_of_many_lines_is_counted_exactly(reference: object) -> None:
    text = "\n".join(f"Line {i}: the fox, 狐狸 #{i}!  \tend" for i in range(30_000))  # ~1 MB
    assert len(tokens.slices(text)) > 10
    assert count_tokens(text) == len(reference.encode(text))  # type: ignore[attr-defined]


def test_a_long_stretch_with_nowhere_to_cut_is_counted_exactly_piece_by_piece() -> None:
    enc = qwen_vocab.encoding()
    assert enc is not None
    text = "狐狸,fox;" * 20_000  # 160,000 characters without a line break or a space
    assert len(tokens.slices(text)) == 1 and 2 * tokens.LONG_TEXT < len(text) < tokens.SLOW_CHARS
    assert count_tokens(text) == len(enc.encode_ordinary(text))  # the vocabulary's encoder, on the whole


@pytest.mark.parametrize("text", [" " * 3_000_000, "b" * 3_000_000, "狐狸跳过了懒狗" * 400_000, "\t\n" * 1_500_000])
def test_an_endless_word_or_run_of_spaces_is_counted_by_the_rule(text: str) -> None:
    # one pre-tokenizer piece of millions of characters: encoding it whole overflows tiktoken's stack
    assert count_tokens(text) == tokens.rough_count(text)


SLICE_PIECES = st.lists(
    st.sampled_from(["a", "Bc", " ", "  ", "\n", "\r\n", "\n\n", ".", "'s", "7", "你", "é", "\t", "!?", " x"]),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(SLICE_PIECES, st.sampled_from([1, 2, 5, 16]))
def test_slices_encode_to_the_tokens_of_the_whole(pieces: list[str], size: int) -> None:
    enc = qwen_vocab.encoding()
    assert enc is not None
    text = "".join(pieces)
    cut = tokens.slices(text, size)
    assert "".join(cut) == text
    assert [t for s in cut for t in enc.encode_ordinary(s)] == enc.encode_ordinary(text)


PIECES = st.lists(
    st.sampled_from(
        ["a", "b", "Hello", " ", "  ", "\n", "\r\n", ".", "'s", "7", "你", "好", "é", "\t", "!?"]
    ),
    max_size=400,
)


@settings(max_examples=150, deadline=None)
@given(PIECES, st.data())
def test_a_streamed_text_counts_as_the_whole_text(pieces: list[str], data: st.DataObject) -> None:
    text = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=60)))
    settle_at = tokens.SETTLE_AT
    tokens.SETTLE_AT = data.draw(st.sampled_from([1, 2, 8, settle_at]))  # settle often: the risky path
    try:
        counter = TokenCounter()
        for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
            assert counter.peek(text[start:end]) == count_tokens(text[:end])
            counter.add(text[start:end])
        assert counter.total == count_tokens(text)
    finally:
        tokens.SETTLE_AT = settle_at


def test_every_short_text_split_in_two_counts_as_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exhaustive over short texts of the characters whose pieces re-cut when text is appended."""
    monkeypatch.setattr(tokens, "SETTLE_AT", 1)
    alphabet = ["a", " ", "  ", "\n", "\r\n", ".", "7", "你", "'s"]
    for combo in itertools.product(alphabet, repeat=4):
        for cut in range(1, 4):
            counter = TokenCounter()
            counter.add("".join(combo[:cut]))
            assert counter.total == count_tokens("".join(combo[:cut]))
            counter.add("".join(combo[cut:]))
            assert counter.total == count_tokens("".join(combo)), combo


def test_nothing_is_loaded_at_import_time() -> None:
    code = (
        "import sys, qwen_server.gateway, qwen_server.api.anthropic.count, qwen_server.core.output;"
        "assert 'tiktoken' not in sys.modules and 'dashscope' not in sys.modules, 'loaded at import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def no_vocabulary(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(qwen_vocab, "vocabulary_path", lambda: None)
    qwen_vocab.forget()
    yield
    qwen_vocab.forget()


def test_without_the_vocabulary_the_old_rule_counts_and_says_so(
    no_vocabulary: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert tokenizer() == "estimate"
    assert "qwen.tiktoken not found" in caplog.text
    assert count_tokens("abcd" * 10) == 10 and count_tokens("你好世界") == 4
    counter = TokenCounter()
    for ch in "abcd" * 10:
        counter.add(ch)
    assert counter.total == 10  # the rule over the whole text, not one rounded-up token per piece
