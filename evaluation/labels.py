"""Question labels: CSV files with `question, file, page` (+ optional `qid, domain`).

`file` is relative to the corpus folder, `page` is 1-based and may list
alternatives separated by `;` (any one answers the question). A row that can't be
answered from the corpus (file missing or unreadable, page not a number or out of
range, empty question) is returned as `Excluded` with its reason, never scored.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

REQUIRED = ("question", "file", "page")
# The team's shared evaluation data beside the project (never copied into it); absent on a user's PC.
EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"
SAMPLE_LABELS = EVAL_DIR / "allganize_dev.csv"


class LabelError(ValueError):
    """A label file that can't be used at all (missing columns, unreadable)."""


@dataclass(frozen=True)
class Question:
    """An answerable labelled question."""

    qid: str
    question: str
    domain: str
    file: str  # posix path relative to the corpus folder
    pages: tuple[int, ...]  # alternatives, 1-based
    source: str = ""  # label file name
    context_type: str = ""  # where the answer sits: paragraph, table, image... ("" when not labelled)


@dataclass(frozen=True)
class Excluded:
    """A label row left out of scoring, and why."""

    qid: str
    question: str
    file: str
    page: str
    reason: str
    source: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"qid": self.qid, "question": self.question, "file": self.file, "page": self.page,
                "reason": self.reason, "source": self.source}


def parse_pages(raw: str) -> tuple[int, ...]:
    """"4" -> (4,), "5; 6" -> (5, 6); raises ValueError on anything else (empty, "x", "4.5")."""
    parts = [p.strip() for p in str(raw).split(";") if p.strip()]
    if not parts:
        raise ValueError("no page")
    pages = []
    for p in parts:
        if p.endswith(".0"):  # a spreadsheet round-trip turns 4 into 4.0
            p = p[:-2]
        pages.append(int(p))
    return tuple(dict.fromkeys(pages))


def folder_domain(file: str) -> str:
    """The first folder of a relative path ("law/x.pdf" -> "law"), "" for a top-level file."""
    parts = PurePosixPath(file).parts
    return parts[0] if len(parts) > 1 else ""


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of one label CSV (UTF-8, BOM tolerated); raises LabelError when a required column is missing."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            return parse_rows(f, str(path))
    except OSError as exc:
        raise LabelError(f"{path}: {exc}") from exc


def parse_rows(lines: Iterable[str], name: str) -> list[dict[str, str]]:
    """Rows of label CSV text, values stripped; raises LabelError when a required column is missing."""
    reader = csv.DictReader(lines)
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise LabelError(f"{name}: missing column(s) {', '.join(missing)} (have {', '.join(columns)})")
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def load_labels(paths: Iterable[Path], root: Path,
                page_count: Callable[[Path], int | None]) -> tuple[list[Question], list[Excluded]]:
    """Answerable questions and excluded rows from every CSV in `paths`.

    `page_count(path)` gives a file's number of pages, or None when it can't be read.
    """
    questions: list[Question] = []
    excluded: list[Excluded] = []
    counts: dict[Path, int | None] = {}
    for path in map(Path, paths):
        for i, row in enumerate(read_rows(path)):
            qid = row.get("qid") or f"{path.stem}:{i}"
            file = row["file"].replace("\\", "/").strip("/")
            pages, reason = _check(row, file, root, counts, page_count)
            if reason:
                excluded.append(Excluded(qid, row["question"], file, row["page"], reason, path.name))
            else:
                if len(pages) < len(parse_pages(row["page"])):
                    log.warning("%s %s: page(s) out of range in %r; kept %s", path.name, qid, row["page"], pages)
                questions.append(Question(qid, row["question"], row.get("domain") or folder_domain(file), file,
                                          pages, path.name, row.get("context_type", "")))
    return questions, excluded


def _check(row: dict[str, str], file: str, root: Path, counts: dict[Path, int | None],
           page_count: Callable[[Path], int | None]) -> tuple[tuple[int, ...], str]:
    """The row's valid pages, or () and the reason it can't be answered."""
    if not row["question"]:
        return (), "empty question"
    try:
        pages = parse_pages(row["page"])
    except ValueError:
        return (), f"page is not a number: {row['page']!r}"
    target = root / file
    if not file or not target.is_file():
        return (), "file not found"
    if target not in counts:
        counts[target] = page_count(target)
    n = counts[target]
    if n is None:
        return (), "file can't be read"
    valid = tuple(p for p in pages if 1 <= p <= n)
    if not valid:
        return (), f"page out of range (the file has {n} pages)"
    return valid, ""
