"""Pure: the concrete things a request names, for answers and arguments "taken from the prompt".

Numbers, proper names, quoted strings, `key: value` pairs, enumerations, file and folder names, e-mail
addresses, URLs and dates, each in the order they appear. Heuristics, kept deterministic: the same request
always yields the same facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*[A-Za-z])")
_QUOTED = re.compile(r"\"([^\"\n]{1,200})\"|'([^'\n]{1,200})'|`([^`\n]{1,200})`|“([^”\n]{1,200})”")
_PAIR = re.compile(
    r"\b([A-Za-z_][\w ]{0,30}?)\s*(?::|=|\bis\b|\bof\b)\s*((?:[^,;:\n.?!]|[.@](?=\w))+)", re.IGNORECASE
)
_NAME_RUN = re.compile(r"\b[A-Z][a-zA-Z'-]+(?:\s+(?:[A-Z][a-zA-Z'-]+|de|da|van|von|del|la|le))*")
_FILE = re.compile(r"(?<![\w/.@-])((?:~?/)?(?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z][A-Za-z0-9]{0,7})(?![\w/@])")
_FOLDER = re.compile(r"(?<![\w.@-])((?:~|\.{1,2})?/?(?:[\w.-]+/)+[\w.-]*|\.{1,2}|~)(?=[\s,;:?!)]|$)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://[^\s)>\]\"']+")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_LIST = re.compile(r"([\w' -]+?(?:,\s*[\w' -]+?)+,?\s+(?:and|or)\s+[\w' -]+?)(?=[.?!;:\n]|$)")
_DOMAINS = frozenset({"com", "org", "net", "io", "ai", "dev", "app", "co", "uk", "de", "fr", "cn", "edu", "gov"})
# capitalised words that start sentences or questions rather than name anything
COMMON = frozenset(
    """a an the this that these those what which who whom whose when where why how is are was were be been
    do does did can could would should will shall may might must please give show tell list find get make
    write create return extract describe summarize summarise explain generate i we you he she it they my
    our your their hi hello hey thanks thank yes no ok okay and or but if then so also just now here there
    json using use with for from into about of in on at to by as not all any some every each one two three
    let lets let's read look see check that which who answer respond reply output format note""".split()
) | frozenset(
    """monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday january february
    march april may june july august september october november december""".split()
)


@dataclass(frozen=True, slots=True)
class Facts:
    text: str
    numbers: tuple[float, ...] = ()
    names: tuple[str, ...] = ()
    places: tuple[str, ...] = ()  # names after "in", "at", "from", "to", "near"
    quoted: tuple[str, ...] = ()
    pairs: dict[str, str] = field(default_factory=dict)
    items: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()


def key_of(text: str) -> str:
    """A property name or phrase reduced to lowercase words joined by `_` (`firstName` -> `first_name`)."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text.strip())
    return "_".join(w for w in re.split(r"[^A-Za-z0-9]+", text.lower()) if w)


def _names(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for match in _NAME_RUN.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower() in COMMON:
            words.pop(0)
        name = " ".join(words)
        if name and name not in out and not _FILE.fullmatch(name):
            out.append(name)
    return tuple(out)


def _places(text: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in names if re.search(rf"\b(?:in|at|from|to|near|of)\s+{re.escape(n)}\b", text))


def _pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for match in _PAIR.finditer(text):
        words = match.group(1).split()
        key = key_of(" ".join(words[-3:]))
        value = match.group(2).strip().strip("\"'`")
        if key and value and key not in pairs and key not in COMMON:
            pairs[key] = value
    return pairs


def _items(text: str) -> tuple[str, ...]:
    """The last enumeration `a, b and c`: short pieces, read back from the last one while they look like
    items (at most two words, no digits, no common word); a longer piece gives its last words and ends the
    list (`likes surfing, chess and jazz` -> surfing, chess, jazz)."""
    found = list(_LIST.finditer(text))
    if not found:
        return ()
    pieces = [p.strip(" '") for p in re.split(r",\s*(?:and\s+|or\s+)?", found[-1].group(1))]
    last = re.split(r"\s+(?:and|or)\s+", pieces.pop())  # only the final conjunction joins items
    pieces += [" and ".join(last[:-1]), last[-1]] if len(last) > 1 else last
    tail = pieces[-1].split()
    cut = next((i for i, w in enumerate(tail) if i and w.lower() in COMMON), len(tail))
    pieces[-1] = " ".join(tail[:cut])
    kept: list[str] = []
    for piece in reversed(pieces):
        words = piece.split()
        plain = [w for w in words if w.lower() not in COMMON and not any(c.isdigit() for c in w)]
        if words and plain == words and len(words) <= 2:
            kept.insert(0, piece)
            continue
        run: list[str] = []  # the item a longer piece ends with: its last plain words
        for word in reversed(words):
            if word.lower() in COMMON or any(c.isdigit() for c in word):
                break
            run.insert(0, word)
        if run and kept:
            kept.insert(0, " ".join(run[-max(len(k.split()) for k in kept) :]))
        break
    return tuple(kept) if len(kept) >= 2 else ()


def _files(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for name in _FILE.findall(text):
        extension = name.rsplit(".", 1)[1].lower()
        if "/" not in name and extension in _DOMAINS:
            continue  # example.com
        if name not in out:
            out.append(name)
    return tuple(out)


def _folders(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for name in _FOLDER.findall(text):
        if name.startswith("http") or (_FILE.fullmatch(name.rstrip("/")) and "/" not in name.rstrip("/")):
            continue
        if name not in out:
            out.append(name)
    return tuple(out)


def facts_of(text: str) -> Facts:
    without_urls = _URL.sub(" ", text)
    quoted = tuple(next(g for g in m.groups() if g) for m in _QUOTED.finditer(text))
    names = tuple(n for n in _names(without_urls) if not any(n in q for q in quoted))  # quoted: titles
    return Facts(
        text=text,
        numbers=tuple(float(n) for n in _NUMBER.findall(_DATE.sub(" ", without_urls))),
        names=names,
        places=_places(without_urls, names),
        quoted=quoted,
        pairs=_pairs(without_urls),
        items=_items(without_urls),
        files=_files(without_urls),
        folders=_folders(without_urls),
        emails=tuple(_EMAIL.findall(text)),
        urls=tuple(_URL.findall(text)),
        dates=tuple(_DATE.findall(text)),
    )
