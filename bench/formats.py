"""HWP and HWPX ingestion measured file by file, beside the PDF path.

    python -m bench.formats [--hwp DIR] [--hwpx DIR] [--pdfs DIR] [--ingest] [--json OUT]

Per `.hwp` of ../shared/eval/hwp and `.hwpx` of ../shared/eval/pdfs/public: how it was read
(pages laid out and rendered, or text only), pages, characters extracted beside a second
extractor reading the file directly (unhwp; "coverage" = share of its characters our pages
hold, "extra" = share of ours it lacks: duplicates, page numbers, table bars), tables found
(beside the tables of 2+ rows and columns in the file), seconds and seconds per page, and
whether every page image renders with ink and every block's rectangle lies on its page.

Speed is compared with the PDF path on the PDFs of the same folder of public documents
(press releases and plans): parsing per page always; with --ingest also the whole ingest
(parse, chunk, embed with the real model, store) per page, in a temporary store.
Bar: HWP/HWPX within 2x of the PDF path per page.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import DEFAULT_PDFS, markdown_table, write_json
from evaluation.labels import EVAL_DIR

log = logging.getLogger(__name__)

DEFAULT_HWP = EVAL_DIR / "hwp"
DEFAULT_HWPX = DEFAULT_PDFS / "public"
_RULE = re.compile(r"^\|(?: *:?-+:? *\|)+$", re.M)
SPEED_BAR = 2.0  # HWP/HWPX seconds per page at most this many times the PDF path's


def hwp_files(hwp_dir: Path, hwpx_dir: Path) -> list[Path]:
    return sorted(hwp_dir.glob("*.hwp")) + sorted(hwpx_dir.glob("*.hwpx"))


def measure_file(path: Path) -> dict:
    """Parse one HWP/HWPX file and measure what came out (see the module docstring)."""
    from ingest.formats import parse_document
    from ingest.hwp import coverage, plain_text, read_unhwp, tables_of

    data = path.read_bytes()
    row: dict = {"file": path.name, "format": path.suffix.lower()[1:]}
    t0 = time.perf_counter()
    try:
        doc = parse_document(data, path.name)
    except Exception as exc:  # noqa: BLE001 - a refused file is a result here (its Korean message is shown)
        return {**row, "mode": "refused", "message": str(exc), "seconds": time.perf_counter() - t0}
    seconds = time.perf_counter() - t0
    # Table bars and header rules are markup, not text of the file.
    ours = _RULE.sub("", "\n".join(p.text for p in doc.pages)).replace("|", " ")
    try:
        sections = read_unhwp(data)  # the second extractor, independent of ours
        reference = plain_text(sections)
        ref_tables = sum(1 for t in tables_of(sections) if len(t.rows) >= 2 and len(t.rows[0]) >= 2)
    except ValueError as exc:
        log.warning("%s: second extractor failed: %s", path.name, exc)
        reference, ref_tables = "", None
    pages = len(doc.pages)
    row.update(
        mode="rendered" if doc.page_pdf else "text only", pages=pages, seconds=seconds,
        s_per_page=seconds / max(pages, 1), chars=_count(ours), ref_chars=_count(reference),
        coverage=coverage(reference, ours) if reference else None,
        extra=1 - coverage(ours, reference) if reference else None,
        tables=sum(1 for p in doc.pages for b in p.blocks if b.kind == "table"), ref_tables=ref_tables,
        flagged=doc.flagged_pages, notes=list(doc.notes),
    )
    row.update(_page_images(doc))
    return row


def measure_pdf(path: Path) -> tuple[int, float]:
    """(pages, seconds) of the PDF path parsing one PDF."""
    from ingest.formats import parse_document

    data = path.read_bytes()
    t0 = time.perf_counter()
    doc = parse_document(data, path.name)
    return len(doc.pages), time.perf_counter() - t0


def measure_ingest(paths: Sequence[Path]) -> dict:
    """Ingest the files into a temporary store with the real embedder: seconds per indexed page, per stage."""
    from docqa.config import Settings
    from docqa.services import load_embedder, open_store
    from ingest.pipeline import Ingestor

    with tempfile.TemporaryDirectory(prefix="bench-formats-") as tmp:
        settings = Settings.from_env(data_dir=Path(tmp))
        embedder = load_embedder(Settings.from_env())
        store = open_store(settings, embedder)
        t0 = time.perf_counter()
        report = Ingestor(store, embedder, settings).ingest(list(paths))
        seconds = time.perf_counter() - t0
    pages = report.pages
    return {"files": len(paths), "indexed": report.count("indexed"), "failed": report.count("failed"),
            "pages": pages, "chunks": report.chunks, "seconds": seconds, "s_per_page": seconds / max(pages, 1),
            "stages_s": dict(report.seconds)}


def _count(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _page_images(doc) -> dict:
    """Pages of the printable PDF that render with ink, and blocks whose rectangle lies on its page."""
    import numpy as np
    import pymupdf

    blocks = [(p, b) for p in doc.pages for b in p.blocks]
    on_page = sum(1 for p, b in blocks if _inside(b.bbox, p.width, p.height))
    out = {"rects_on_page": f"{on_page}/{len(blocks)}"}
    if doc.page_pdf is None:
        return {**out, "images": "none"}
    inked = 0
    with pymupdf.open("pdf", doc.page_pdf) as pdf:
        for page in pdf:
            pix = page.get_pixmap(dpi=36, colorspace=pymupdf.csGRAY)
            inked += int(np.frombuffer(pix.samples, np.uint8).min() < 128)
        count = pdf.page_count
    return {**out, "images": f"{inked}/{count}", "pdf_pages_match": count == len(doc.pages)}


def _inside(bbox, width: float, height: float, slack: float = 2.0) -> bool:
    x0, y0, x1, y1 = bbox
    return -slack <= x0 <= x1 <= width + slack and -slack <= y0 <= y1 <= height + slack


def run(hwp_dir: Path, hwpx_dir: Path, pdf_dir: Path, ingest: bool = False) -> dict:
    files = hwp_files(hwp_dir, hwpx_dir)
    if not files:
        raise SystemExit(f"no .hwp under {hwp_dir} and no .hwpx under {hwpx_dir}")
    pdf_files = sorted(pdf_dir.glob("*.pdf"))
    rows = []
    pdf_pages, pdf_seconds = 0, 0.0
    # HWP and PDF files alternate, so that both sides see the same load of a shared machine.
    for i in range(max(len(files), len(pdf_files))):
        if i < len(files):
            log.info("parsing %s", files[i].name)
            rows.append(measure_file(files[i]))
        if i < len(pdf_files):
            pages, seconds = measure_pdf(pdf_files[i])
            pdf_pages += pages
            pdf_seconds += seconds
    read = [r for r in rows if r["mode"] != "refused"]
    pages = sum(r["pages"] for r in read)
    seconds = sum(r["seconds"] for r in read)
    result = {"files": rows, "hwp_parse": {"pages": pages, "seconds": seconds, "s_per_page": seconds / max(pages, 1)},
              "pdf_parse": {"folder": str(pdf_dir), "files": len(pdf_files), "pages": pdf_pages,
                            "seconds": pdf_seconds, "s_per_page": pdf_seconds / max(pdf_pages, 1)}}
    result["parse_ratio"] = result["hwp_parse"]["s_per_page"] / max(result["pdf_parse"]["s_per_page"], 1e-9)
    if ingest:
        log.info("ingesting the HWP/HWPX files")
        result["hwp_ingest"] = measure_ingest(files)
        log.info("ingesting the reference PDFs")
        result["pdf_ingest"] = measure_ingest(pdf_files)
        result["ingest_ratio"] = result["hwp_ingest"]["s_per_page"] / max(result["pdf_ingest"]["s_per_page"], 1e-9)
    return result


def report(result: dict) -> str:
    def pct(v) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    rows = []
    for r in result["files"]:
        if r["mode"] == "refused":
            rows.append([r["file"], r["format"], "refused: " + r["message"], "-", "-", "-", "-", "-", "-",
                         f"{r['seconds']:.2f}", "-", "-", "-"])
            continue
        rows.append([r["file"], r["format"], r["mode"], r["pages"], f"{r['chars']:,} / {r['ref_chars']:,}",
                     pct(r["coverage"]), pct(r["extra"]), r["tables"],
                     "-" if r["ref_tables"] is None else r["ref_tables"],
                     f"{r['seconds']:.2f}", f"{r['s_per_page']:.3f}", r["images"], r["rects_on_page"]])
    out = [markdown_table(["file", "format", "read as", "pages", "chars ours / unhwp", "coverage", "extra",
                           "tables", "tables (file, 2x2+)", "seconds", "s/page", "page images", "rects on page"],
                          rows)]
    h, p = result["hwp_parse"], result["pdf_parse"]
    lines = [["parse", f"{h['s_per_page']:.3f} ({h['pages']} pages)", f"{p['s_per_page']:.3f} ({p['pages']} pages)",
              f"{result['parse_ratio']:.2f}x"]]
    if "ingest_ratio" in result:
        hi, pi = result["hwp_ingest"], result["pdf_ingest"]
        lines.append(["ingest (parse+chunk+embed+store)", f"{hi['s_per_page']:.3f} ({hi['pages']} pages)",
                      f"{pi['s_per_page']:.3f} ({pi['pages']} pages)", f"{result['ingest_ratio']:.2f}x"])
    out.append(markdown_table(["seconds per page", "HWP/HWPX", f"PDF ({Path(p['folder']).name}/*.pdf)",
                               f"ratio (bar ≤ {SPEED_BAR:g}x)"], lines))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.formats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hwp", type=Path, default=DEFAULT_HWP, help=f"folder of .hwp (default {DEFAULT_HWP})")
    parser.add_argument("--hwpx", type=Path, default=DEFAULT_HWPX, help=f"folder of .hwpx (default {DEFAULT_HWPX})")
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_HWPX,
                        help="folder of PDFs timed as the PDF path (default: the .hwpx folder's PDFs)")
    parser.add_argument("--ingest", action="store_true",
                        help="also time the whole ingest (real embedder, temporary store) of both sets")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    result = run(args.hwp, args.hwpx, args.pdfs, ingest=args.ingest)
    print(report(result))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
