"""`python -m bench.parse_quality`: how well parsing keeps sentences whole, per file and overall.

Every PDF under the folder is parsed and chunked exactly as the product indexes it (the
embedding model's tokenizer sizes the passages). In each running-text passage (tables
and figures are rows and labels, not prose) every line break is a paragraph break as
stored; a break falls mid-sentence when the text before it plainly goes on:

- it does not end a sentence (. ! ? …, perhaps in closing quotes or brackets; a number
  followed by a period, "2019." of a wrapped date, does not end one), and
- the next part is no list item (bullet, number, "※", "*", a bracket), and
- in English, a lower-case word or comma runs on into a lower-case word; in Korean (Hangul
  among the last few characters before, Hangul or a digit after), either the words on each side are grammatically
  bound (Kiwi: the text before ends in a particle, a connective or adnominal ending, a
  comma or a stem; or the text after starts with a particle or an ending), or both sides
  are long runs of prose (≥ 30 characters: no heading, label or caption is that long
  without ending).

A break right after a heading the parser recognised (larger or bold type) is no
mid-sentence break. Also reported: breaks per passage, passages and how many are tables and figures, and
the parse + chunk seconds (parsing alone, and the OCR stage when it ran).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import re
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from bench.common import DEFAULT_CACHE, DEFAULT_PDFS, collect_corpus, markdown_table

log = logging.getLogger("bench.parse_quality")

_END = re.compile(r"(?:[.!?。？！…][\"'”’)\]」』〉》]*)\s*$")
_NUMBER_DOT = re.compile(r"(?:^|[\s(])\d{1,4}\.\s*$")  # "2019." "1." of a date or a number cut at the line end
_ITEM = re.compile(r"^\s*(?:[•·‧∙◦▪▫■□▶▷►▸○●◎◇◆※☞✓✔➢➤❍❏\-*ㅇ→⇒⇨➜<\[【(]|\d{1,2}[.)]|[가-하][.)]\s|[①-⑳㉠-㉭㈀-㈜]"
                   r"|[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ])")
_BOUND_BEFORE = ("J", "EC", "ETM", "XSV", "XSA", "XPN", "VV", "VA", "VX", "VCP", "MM")
_BOUND_AFTER = ("J", "E", "XS")
PROSE_RUN = 30


@cache
def _kiwi():
    from kiwipiepy import Kiwi

    return Kiwi()


def _tags(text: str) -> list[tuple[str, str]]:
    return [(t.form, t.tag.split("-")[0]) for t in _kiwi().tokenize(text)]


def mid_sentence(before: str, after: str) -> bool:
    """Whether a line break between `before` and `after` cuts a sentence (see the module docstring)."""
    before, after = before.strip(), after.strip()
    if not before or not after or (_END.search(before) and not _NUMBER_DOT.search(before)) or _ITEM.match(after):
        return False
    if re.search(r"[a-z,]$", before) and re.match(r"[a-z]", after):
        return True  # English: a lower-case word goes on
    if not re.search(r"[가-힣][^.!?。]{0,8}$", before) or not re.match(r"[가-힣\d]", after):
        return False  # no Korean sentence running across the break
    tail, head = before[-40:], after[:40]
    tags_before = _tags(tail)
    if tags_before:
        form, tag = tags_before[-1]
        if tag == "EF" or (tag == "ETN" and len(before) < 120):  # "…한다", "…함/…임" (report style)
            return False
        if tag.startswith(_BOUND_BEFORE) or tag == "SP" or form in ("(", "[", "‘", "“", "「"):
            return True
    tags_after = _tags(head)
    if tags_after and tags_after[0][1].startswith(_BOUND_AFTER):
        return True
    return len(before) >= PROSE_RUN and len(after) >= PROSE_RUN


@dataclass
class FileResult:
    file: str
    pages: int = 0
    passages: int = 0
    tables: int = 0
    figures: int = 0
    ocr_passages: int = 0
    breaks: int = 0
    mid: int = 0
    figure_breaks: int = 0  # line breaks inside figure passages (label rows), counted apart
    figure_mid: int = 0
    parse_s: float = 0.0
    chunk_s: float = 0.0
    ocr_s: float = 0.0
    examples: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def share(self) -> float:
        return self.mid / self.breaks if self.breaks else 0.0


def breaks_of(text: str) -> list[tuple[str, str]]:
    """(segment before, segment after) for every run of line breaks in a passage."""
    parts = [p for p in re.split(r"\n+", text)]
    return [(a, b) for a, b in zip(parts, parts[1:])]


def measure(path: Path, rel: str, chunker, ocr: bool, settings=None, examples: int = 3) -> FileResult:
    """Parse and chunk one PDF; count its stored breaks and those mid-sentence."""
    from docqa.errors import DocQAError
    from ingest.parse import parse_pdf

    out = FileResult(rel)
    data = path.read_bytes()
    t0 = time.perf_counter()
    # (an older parser without OCR options is measured too, for the before/after comparison)
    options = {"ocr": ocr, "settings": settings} if "ocr" in inspect.signature(parse_pdf).parameters else {}
    try:
        doc = parse_pdf(data, path.name, **options)
    except DocQAError as exc:
        out.error = str(exc)
        return out
    out.ocr_s = getattr(doc, "seconds", {}).get("ocr", 0.0)
    out.parse_s = time.perf_counter() - t0 - out.ocr_s
    t0 = time.perf_counter()
    chunks = chunker.chunk(doc)
    out.chunk_s = time.perf_counter() - t0
    out.pages = len(doc.pages)
    out.passages = len(chunks)
    headings = {(p.number, b.text.strip()) for p in doc.pages for b in p.blocks if b.kind == "heading"}
    for c in chunks:
        kind = getattr(c, "kind", "text")
        out.tables += kind == "table"
        out.figures += kind == "figure"
        out.ocr_passages += getattr(c, "ocr", False)
        if kind == "figure":  # label rows: reported apart, so that no prose hides in figures unseen
            for before, after in breaks_of(c.text):
                out.figure_breaks += 1
                out.figure_mid += mid_sentence(before, after)
        if kind != "text" or c.text.lstrip().startswith("|"):  # (markdown tables of the older parser)
            continue
        for before, after in breaks_of(c.text):
            if before.lstrip().startswith("|") or after.lstrip().startswith("|"):
                continue  # a markdown table row of the older parser
            out.breaks += 1
            if (c.page_start, before.strip()) in headings:
                continue  # a heading the parser found (by its font) stands apart by design
            if mid_sentence(before, after):
                out.mid += 1
                if len(out.examples) < examples:
                    out.examples.append(f"p{c.page_start}: …{before[-30:]}⏎{after[:30]}…")
    return out


def run(pdfs: Path, cache_dir: Path, ocr: bool, limit: int | None = None) -> list[FileResult]:
    from bench.quality import load_embedder_timed
    from docqa.config import Settings
    from ingest.chunk import Chunker

    embedder, overrides, _ = load_embedder_timed(cache_dir, None)
    settings = Settings.from_env(data_dir=cache_dir, **overrides)
    chunker = Chunker.for_embedder(embedder, settings.chunk_tokens, settings.chunk_overlap)
    results = []
    for f in collect_corpus(pdfs, limit):
        r = measure(f.path, f.rel, chunker, ocr, settings)
        log.info("%s: %d/%d mid-sentence breaks, %.1fs", f.rel, r.mid, r.breaks, r.parse_s + r.chunk_s)
        results.append(r)
    return results


def table(results: list[FileResult]) -> str:
    rows = []
    for r in sorted(results, key=lambda r: -r.share):
        rows.append([r.file, r.pages, r.passages, r.tables, r.figures, r.ocr_passages, r.breaks, r.mid,
                     f"{100 * r.share:.1f}%", round(r.parse_s, 2), round(r.ocr_s, 1)])
    total_breaks = sum(r.breaks for r in results)
    total_mid = sum(r.mid for r in results)
    rows.append(["**overall**", sum(r.pages for r in results), sum(r.passages for r in results),
                 sum(r.tables for r in results), sum(r.figures for r in results),
                 sum(r.ocr_passages for r in results), total_breaks, total_mid,
                 f"{100 * total_mid / max(total_breaks, 1):.1f}%", round(sum(r.parse_s for r in results), 1),
                 round(sum(r.ocr_s for r in results), 1)])
    fig_breaks = sum(r.figure_breaks for r in results)
    fig_mid = sum(r.figure_mid for r in results)
    both = (total_mid + fig_mid) / max(total_breaks + fig_breaks, 1)
    return markdown_table(["file", "pages", "passages", "tables", "figures", "ocr", "breaks", "mid-sentence",
                           "share", "parse s", "ocr s"], rows) + (
        f"\n\nFigure passages (label rows, not counted above): {fig_breaks} breaks, {fig_mid} would count as "
        f"mid-sentence; text and figure passages together: {100 * both:.1f}%.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parse_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS, help="folder of PDFs, searched recursively")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="bench cache (the embedding model)")
    parser.add_argument("--limit", type=int, help="only the first N PDFs")
    parser.add_argument("--ocr", action="store_true", help="read scanned pages and images by OCR too")
    parser.add_argument("--examples", action="store_true", help="print mid-sentence breaks found")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    results = run(args.pdfs, args.cache, args.ocr, args.limit)
    print(f"## Paragraph breaks in stored passages: {args.pdfs} (OCR {'on' if args.ocr else 'off'})\n")
    print(table(results))
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"- not parsed: {r.file}: {r.error}")
    if args.examples:
        print("\n### Mid-sentence breaks (first 3 per file)\n")
        for r in results:
            for e in r.examples:
                print(f"- {r.file} {e}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.__dict__ | {"share": r.share} for r in results], ensure_ascii=False,
                                        indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
