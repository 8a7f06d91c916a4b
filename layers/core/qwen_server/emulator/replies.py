"""Pure: which reply a prompt gets, how it is cut into pieces, and how many tokens it counts as."""

from __future__ import annotations

import re
from dataclasses import dataclass

from qwen_server.emulator.conversation import block as _block
from qwen_server.emulator.conversation import headers as _headers
from qwen_server.emulator.directives import Script, strip_directives
from qwen_server.emulator.phases import ModePlan, plan_mode
from qwen_server.emulator.respond import Composed, compose

# The gateway's request to continue a broken answer, sent as the last user turn after the partial answer.
CONTINUE_MARKER = "Continue exactly where your previous answer stopped"
CONTINUE_OVERLAP = 12  # characters of the partial answer (back to a word start) the continuation repeats
_PIECE = re.compile(r"\s*\S+|\s+")
EMPTY_REPLY = "(empty message)"
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """Everything the stream writer needs, decided before the first byte goes out."""

    think: tuple[str, ...]
    answer: tuple[str, ...]
    input_tokens: int
    error: str | None = None
    silence: float = 0.0
    silence_mid: float = 0.0
    delay: float | None = None
    usage: bool = True
    mode: ModePlan | None = None  # phases before the answer (search, research, code)
    details: str | None = None  # a scripted error's own message


def count_tokens(chars: int) -> int:
    """A rough tokenizer: four characters a token, at least one token for any text."""
    return max(1, -(-chars // CHARS_PER_TOKEN)) if chars else 0


def last_user_text(content: str) -> str:
    """The text of the last `[user]` block of a flattened conversation, or all of a plain message.
    A named block (`[user name=alice]`) is echoed as `alice: text`, so tests can see the name arrived."""
    headers = _headers(content)
    if not headers:
        return content.strip()
    for i in range(len(headers) - 1, -1, -1):
        if headers[i].group("role") == "user":
            text = _block(content, headers, i).strip()
            name = headers[i].group("name")
            return f"{name}: {text}" if name else text
    return ""


def continuation(content: str) -> tuple[str, str] | None:
    """(the conversation before the partial answer, the partial answer) when the prompt asks to continue a
    broken answer: its last turn is the gateway's continue instruction, right after an assistant turn."""
    headers = _headers(content)
    if len(headers) < 2 or headers[-1].group("role") != "user" or headers[-2].group("role") != "assistant":
        return None
    if not _block(content, headers, len(headers) - 1).strip().startswith(CONTINUE_MARKER):
        return None
    return content[: headers[-2].start()], _block(content, headers, len(headers) - 2)


def _resume_from(full: str, partial: str) -> str | None:
    """The rest of `full` after `partial`, repeating its last characters as a model often does (back to
    a word start, at least `CONTINUE_OVERLAP` of them); None when `full` does not begin with `partial`."""
    if not full.startswith(partial):
        return None
    start = max(0, len(partial) - CONTINUE_OVERLAP)
    while start > 0 and not full[start - 1].isspace():
        start -= 1
    return full[start:]


def split_pieces(text: str) -> tuple[str, ...]:
    """Word-sized pieces that join back to exactly `text` (each carries its leading whitespace)."""
    return tuple(_PIECE.findall(text))


def think_about(question: str) -> str:
    """A short deterministic reasoning text for the echo mode."""
    words = question.split()
    gist = " ".join(words[:12]) + (" ..." if len(words) > 12 else "")
    return f'The user wrote {len(words)} words: "{gist}". The answer repeats them back.'


def _cap(pieces: tuple[str, ...], max_tokens: int) -> tuple[str, ...]:
    """Cut the think phase to the thinking budget (always keeping one piece)."""
    kept: list[str] = []
    chars = 0
    for piece in pieces:
        chars += len(piece)
        if kept and count_tokens(chars) > max_tokens:
            break
        kept.append(piece)
    return tuple(kept)


def plan_reply(
    content: str,
    script: Script | None,
    thinking: bool,
    thinking_budget: int | None,
    chat_type: str = "t2t",
    conversation: str | None = None,
) -> ReplyPlan:
    """Decide the reply. A script's fields win; whatever it leaves unset falls back to the answer a model
    would give (`respond.compose`: a tool call, a report of tool results, JSON), else to the echo (or the
    answer of the chat type's mode). `conversation` is what the model reads when that is not the message
    itself (a conversation sent as an attached file, the message without the emulator's file notes)."""
    script = script or Script()
    resumed = continuation(content)
    asked = resumed[0] if resumed else content
    question = last_user_text(strip_directives(asked))
    mode = plan_mode(chat_type, question, script.code, script.code_output)
    composed: Composed | None = None
    source = content if conversation is None else conversation
    from_source = resumed if conversation is None else continuation(source)
    if script.chunks is None and script.reply is None and not script.echo:
        # a mode's phases (a search) still run first; a call or JSON replaces the mode's own answer
        composed = compose(strip_directives(from_source[0] if from_source else source))
    if script.chunks is not None:
        answer = script.chunks
    elif composed is not None:
        answer, resumed = split_pieces(composed.text), from_source
    else:
        default = mode.answer if mode is not None and mode.answer is not None else (question or EMPTY_REPLY)
        answer = split_pieces(script.reply if script.reply is not None else default)
    if resumed is not None:
        rest = _resume_from("".join(answer), resumed[1])
        if rest is not None:
            answer = split_pieces(rest)
    think: tuple[str, ...] = ()
    if thinking:
        thought = composed.thought if composed is not None else think_about(question)
        think = split_pieces(script.thinking if script.thinking is not None else thought)
        if thinking_budget:
            think = _cap(think, thinking_budget)
    return ReplyPlan(
        think=think,
        answer=answer,
        input_tokens=count_tokens(len(content)) or 1,
        error=script.error,
        silence=script.silence,
        silence_mid=script.silence_mid,
        delay=script.delay,
        usage=script.usage,
        mode=mode,
        details=script.details,
    )
