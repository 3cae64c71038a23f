"""Citations: the `파일명, p. N` string of a passage, and the [n] markers of a generated answer.

Markers are numbered like the result cards (1 = the first hit), so `[n]` links to `#card-n`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from dataclasses import dataclass

from docqa.types import Chunk, Hit

# "[1]", "[1, 2]", "[1][2]", "[1-3]", "[출처 1]"; full-width brackets and commas as models write them.
_MARKER = re.compile(r"[\[［]\s*(?:출처\s*)?(\d{1,3}(?:\s*(?:[,，、]|[-–~])\s*\d{1,3})*)\s*[\]］]")
_NUMBER = re.compile(r"\d{1,3}")
_RANGE = re.compile(r"(\d{1,3})\s*[-–~]\s*(\d{1,3})")
MAX_RANGE = 20  # "[1-3]" expands; "[1-900]" is noise, not a citation


def page_label(chunk: Chunk) -> str:
    """"p. 4" or "pp. 4–5" for a passage spanning pages."""
    if chunk.page_start == chunk.page_end:
        return f"p. {chunk.page_start}"
    return f"pp. {chunk.page_start}–{chunk.page_end}"


def citation(hit: Hit | Chunk) -> str:
    """The citation a user copies: `파일명, p. N` (`파일명, pp. N–M` when the passage spans pages)."""
    chunk = hit.chunk if isinstance(hit, Hit) else hit
    return f"{chunk.file_name}, {page_label(chunk)}"


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"[,，、]", group):
        m = _RANGE.fullmatch(part.strip())
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if a <= b and b - a <= MAX_RANGE:
                out.extend(range(a, b + 1))
                continue
        out.extend(int(n) for n in _NUMBER.findall(part))
    return out


def markers(text: str) -> list[int]:
    """Every passage number cited in `text`, in order of first use."""
    return list(dict.fromkeys(n for m in _MARKER.finditer(text) for n in _numbers(m.group(1))))


@dataclass(frozen=True)
class CleanedAnswer:
    text: str  # markers normalised to "[1][2]", invalid ones removed
    cited: tuple[int, ...]  # valid passage numbers, in order of first use
    dropped: tuple[int, ...]  # numbers that point at no passage


def clean_markers(text: str, valid: Collection[int]) -> CleanedAnswer:
    """Normalise every marker group to "[a][b]" and drop the numbers not in `valid`."""
    valid = set(valid)
    cited: dict[int, None] = {}
    dropped: dict[int, None] = {}

    def repl(m: re.Match) -> str:
        kept = []
        for n in dict.fromkeys(_numbers(m.group(1))):
            if n in valid:
                kept.append(n)
                cited[n] = None
            else:
                dropped[n] = None
        return "".join(f"[{n}]" for n in kept)

    out = _MARKER.sub(repl, text)
    out = re.sub(r"[ \t]+([.,!?。])", r"\1", out)  # "내용 [9]." with [9] removed leaves "내용 ."
    return CleanedAnswer(out.strip(), tuple(cited), tuple(dropped))


def dropped_note(dropped: Collection[int]) -> str:
    """The sentence appended to an answer whose markers pointed at no passage ("" when none did)."""
    if not dropped:
        return ""
    listed = ", ".join(f"[{n}]" for n in sorted(dropped))
    return f"(검색된 근거에 없는 출처 번호 {listed}은(는) 지웠습니다.)"


def answer_html(text: str, valid: Collection[int], anchor: str = "card-{n}") -> str:
    """`text` as safe HTML: escaped, line breaks kept, each valid [n] a link to `#card-n`.

    Works on a partial (streaming) answer too; a marker not in `valid` stays plain text.
    """
    valid = set(valid)
    parts, pos = [], 0
    for m in _MARKER.finditer(text):
        parts.append(html.escape(text[pos:m.start()]))
        links = []
        for n in dict.fromkeys(_numbers(m.group(1))):
            target = html.escape(anchor.format(n=n), quote=True)
            links.append(f'<a class="cite" href="#{target}">[{n}]</a>' if n in valid else f"[{n}]")
        parts.append("".join(links))
        pos = m.end()
    parts.append(html.escape(text[pos:]))
    body = "".join(parts).strip()
    return "<br>".join(body.split("\n"))
