"""OCR accuracy and speed on ../shared/eval: synthetic scans with ground truth, the real scans, raster regions.

    python -m bench.ocr [--dpi 150 200 300] [--lang Hangul kor] [--scan-dpi 200 300] [--baseline]
                        [--real-dpi 200] [--skip-synthetic] [--skip-real] [--skip-regions] [--json OUT] [-v]

Synthetic: pages of eval PDFs that have a good text layer are rasterised like a scan
(grey, slightly skewed and blurred, JPEG) into an image-only PDF page of the same size,
OCR'd with each option and compared with the page's own text layer:
- `char_acc`: 1 - edit distance / length, spaces removed, each text-layer line against the
  OCR words whose centres fall inside that line's box (recognition and boxes together);
- `order_acc`: the same over the whole page in reading order (text layer order vs OCR order);
- `space_f1`: word breaks of the OCR text against the text layer's, on aligned characters.
`--baseline` adds PyMuPDF's plain `get_textpage_ocr` (its own words and lines) for comparison.
Real: the scanned eval PDFs and the outlined-text pages of the 청년농신보 booklet, with
seconds per page and a sample. Regions: raster images `raster_regions` selects on text
pages of all PDFs, and what OCR of them costs.

Seconds are CPU seconds of this process (Tesseract inside PyMuPDF runs on one thread),
so they stay comparable while other jobs share the machine.
"""

from __future__ import annotations

import argparse
import difflib
import io
import logging
import random
import re
import statistics
import sys
import time
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from bench.common import DEFAULT_PDFS, markdown_table, write_json

log = logging.getLogger("bench.ocr")

# Pages with a clean Korean text layer (real word spaces), one or two columns, several domains.
GROUND_TRUTH_PAGES = (
    ("law/2023나2012591(비실명).pdf", 8),
    ("law/서울행정법원_2022구합82219.pdf", 12),
    ("medical/kjg-74-4.pdf", 5),
    ("medical/enm-26-126.pdf", 5),
    ("finance/240320(보도자료) 금융권의 상생금융 추진현황.pdf", 2),
    ("public/제4차(24_28)+학교도서관+진흥+기본계획.pdf", 15),
    ("commerce/이커머스 시장 분석.pdf", 18),
    ("commerce/90_f_167749156298000.pdf", 5),
    ("law/2023누36352(비실명).pdf", 31),  # a ruled table
    ("medical/KJFP003-01-08.pdf", 6),
    ("finance/3. 향후 통화신용정책 방향.pdf", 13),  # two columns, a chart, footnotes
    ("public/2023년 주요업무 추진계획.pdf", 16),
)
SCANNED = ("medical/Kafm015-11-15.pdf", "law/당직 중 사적 행위의 공무수행성 여부.pdf")
OUTLINED = "public/240319 알기쉬운 청년농신보 책자(최종본)★_배포용.pdf"  # text drawn as vector outlines

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class GtLine:
    text: str
    bbox: tuple[float, float, float, float]


def scan_like(page, scan_dpi: int = 300, seed: int = 0) -> bytes:
    """An image-only one-page PDF of `page` as a scanner would make it: grey, skewed, blurred, JPEG."""
    import numpy as np
    import pymupdf
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    pix = page.get_pixmap(dpi=scan_dpi, colorspace=pymupdf.csGRAY, alpha=False)
    img = Image.frombytes("L", (pix.width, pix.height), pix.samples)
    img = img.rotate(rng.uniform(-0.4, 0.4), resample=Image.BICUBIC, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    noise = np.random.default_rng(seed).normal(0, 8, (img.height, img.width))
    img = Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=60)
    doc = pymupdf.open()
    out = doc.new_page(width=page.rect.width, height=page.rect.height)
    out.insert_image(out.rect, stream=buf.getvalue())
    return doc.tobytes()


def ground_truth(page) -> list[GtLine]:
    """The text layer's lines (NFC) with their boxes.

    Some PDFs place each word without writing a space, so a space also goes wherever the
    gap between two characters exceeds 0.15 of the font size (as ingest/parse.py does).
    """
    out = []
    for block in page.get_text("rawdict", flags=0)["blocks"]:
        for line in block.get("lines", ()):
            text, prev = "", None
            for span in line["spans"]:
                for ch in span["chars"]:
                    if prev is not None and ch["bbox"][0] - prev > 0.15 * span["size"] and not text.endswith(" "):
                        text += " "
                    text += ch["c"]
                    prev = ch["bbox"][2]
            text = _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()
            if text:
                out.append(GtLine(text, tuple(line["bbox"])))
    return out


def _plain(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (characters)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _breaks(text: str) -> tuple[str, set[int]]:
    """(text without spaces, positions i such that a space precedes character i)."""
    chars, breaks = [], set()
    for ch in unicodedata.normalize("NFKC", text).strip():
        if ch.isspace():
            if chars:
                breaks.add(len(chars))
        else:
            chars.append(ch)
    return "".join(chars), breaks


def space_counts(ocr: str, truth: str) -> tuple[int, int, int]:
    """(true positive, false positive, false negative) word breaks on aligned characters."""
    a, ba = _breaks(ocr)
    b, bb = _breaks(truth)
    tp = fp = fn = 0
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(1, block.size):  # breaks before characters 2..n of a matched run
            i, j = block.a + k, block.b + k
            tp += i in ba and j in bb
            fp += i in ba and j not in bb
            fn += i not in ba and j in bb
    return tp, fp, fn


def _inside(word_box, line_box, tol: float) -> bool:
    cx, cy = (word_box[0] + word_box[2]) / 2, (word_box[1] + word_box[3]) / 2
    return line_box[0] - tol <= cx <= line_box[2] + tol and line_box[1] - tol <= cy <= line_box[3] + tol


def score_page(lines, truth: list[GtLine]) -> dict:
    """Line-aligned character accuracy, page-order accuracy and word-break counts of OCR lines."""
    words = [(w, i) for i, ln in enumerate(lines) for w in ln.words]
    errors = total = 0
    tp = fp = fn = 0
    for gt in truth:
        ref = _plain(gt.text)
        if not ref:
            continue
        height = gt.bbox[3] - gt.bbox[1]
        inside = [w for w, _ in words if _inside(w.bbox, gt.bbox, 0.25 * height)]
        inside.sort(key=lambda w: w.bbox[0])
        hyp = " ".join(w.text for w in inside)
        errors += edit_distance(_plain(hyp), ref)
        total += len(ref)
        t, f, n = space_counts(hyp, gt.text)
        tp, fp, fn = tp + t, fp + f, fn + n
    ref_page = "".join(_plain(g.text) for g in truth)
    hyp_page = "".join(_plain(ln.text) for ln in lines)
    order_err = edit_distance(hyp_page, ref_page)
    return {"chars": total, "errors": errors, "page_chars": len(ref_page), "order_errors": order_err,
            "tp": tp, "fp": fp, "fn": fn}


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def plain_pymupdf_ocr(page, dpi: int, settings) -> list:
    """The baseline: PyMuPDF's own OCR text page (`get_textpage_ocr`), its words and lines as they come."""
    from ingest.ocr import OcrLine, OcrWord

    tp = page.get_textpage_ocr(language=settings.ocr_lang, dpi=dpi, full=True, tessdata=settings.tessdata)
    lines: dict[tuple[int, int], list] = {}
    for x0, y0, x1, y1, word, block, line, _ in page.get_text("words", textpage=tp, sort=False):
        lines.setdefault((block, line), []).append(OcrWord(unicodedata.normalize("NFC", word), (x0, y0, x1, y1)))
    return [OcrLine(" ".join(w.text for w in ws), (min(w.bbox[0] for w in ws), min(w.bbox[1] for w in ws),
                                                   max(w.bbox[2] for w in ws), max(w.bbox[3] for w in ws)),
                    tuple(ws)) for ws in lines.values()]


def run_synthetic(pdfs: Path, dpis: list[int], langs: list[str], scan_dpis: list[int], settings,
                  baseline: bool = False) -> list[dict]:
    """One row per (scan dpi, lang, dpi): accuracy and CPU seconds over GROUND_TRUTH_PAGES.

    With `baseline`, also PyMuPDF's plain OCR text page for each (scan dpi, lang, dpi).
    """
    import pymupdf

    scans = []
    for rel, number in GROUND_TRUTH_PAGES:
        with pymupdf.open(pdfs / rel) as doc:
            page = doc[number - 1]
            truth = ground_truth(page)
            for scan_dpi in scan_dpis:
                scans.append((rel, number, scan_dpi, truth, scan_like(page, scan_dpi, seed=number)))
    rows = []
    methods = ["ingest.ocr"] + (["plain get_textpage_ocr"] if baseline else [])
    for scan_dpi in scan_dpis:
        for lang in langs:
            for dpi in dpis:
                for method in methods:
                    rows.append(_score_option(scans, scan_dpi, lang, dpi, method, settings))
    return rows


def _score_option(scans: list, scan_dpi: int, lang: str, dpi: int, method: str, settings) -> dict:
    import pymupdf

    from ingest.ocr import ocr_page

    agg = {"chars": 0, "errors": 0, "page_chars": 0, "order_errors": 0, "tp": 0, "fp": 0, "fn": 0}
    seconds = []
    option = replace(settings, ocr_lang=lang)
    for rel, number, sd, truth, data in scans:
        if sd != scan_dpi:
            continue
        with pymupdf.open(stream=data) as doc:
            t0 = time.process_time()
            if method == "ingest.ocr":
                lines = ocr_page(doc[0], dpi=dpi, settings=option)
            else:
                lines = plain_pymupdf_ocr(doc[0], dpi, option)
            seconds.append(time.process_time() - t0)
        s = score_page(lines, truth)
        log.info("scan %d %s dpi %d %s %s p%d: acc %.3f order %.3f %.1fs", scan_dpi, lang, dpi, method, rel, number,
                 1 - s["errors"] / s["chars"], 1 - s["order_errors"] / s["page_chars"], seconds[-1])
        for k in agg:
            agg[k] += s[k]
    return {"scan_dpi": scan_dpi, "lang": lang, "dpi": dpi, "method": method, "pages": len(seconds),
            "char_acc": 1 - agg["errors"] / agg["chars"], "order_acc": 1 - agg["order_errors"] / agg["page_chars"],
            "space_f1": _f1(agg["tp"], agg["fp"], agg["fn"]), "sec_per_page": statistics.mean(seconds)}


def _needs_ocr(page) -> bool:
    """No text layer at all: a scan, or text drawn as outlines."""
    return not page.get_text().strip()


def run_real(pdfs: Path, dpi: int, settings, sample_lines: int = 12) -> tuple[list[dict], dict[str, list[str]]]:
    """OCR of every text-less page of the scanned eval PDFs: one row per file, and a sample of lines."""
    import pymupdf

    from ingest.ocr import ocr_page

    rows, samples = [], {}
    for rel in (*SCANNED, OUTLINED):
        seconds, chars, lines_n, hangul, pages = 0.0, 0, 0, 0, 0
        with pymupdf.open(pdfs / rel) as doc:
            for page in doc:
                if not _needs_ocr(page):
                    continue
                t0 = time.process_time()
                lines = ocr_page(page, dpi=dpi, settings=settings)
                seconds += time.process_time() - t0
                pages += 1
                text = "".join(ln.text for ln in lines)
                chars += len(text.replace(" ", ""))
                hangul += len(re.findall("[\uac00-\ud7a3]", text))
                lines_n += len(lines)
                if rel not in samples and len(lines) >= sample_lines:
                    samples[rel] = [f"p.{page.number + 1}: " + ln.text for ln in lines[:sample_lines]]
                log.info("%s p%d: %d lines, %.1fs", rel, page.number + 1, len(lines), seconds)
        rows.append({"file": rel, "dpi": dpi, "pages": pages, "cpu_s": seconds, "s_per_page": seconds / max(pages, 1),
                     "lines": lines_n, "chars": chars, "hangul_share": hangul / max(chars, 1)})
    return rows, samples


def run_regions(pdfs: Path, dpi: int, settings, min_share: float = 0.05) -> tuple[list[dict], dict]:
    """`raster_regions` on every page with a text layer of every eval PDF, each region OCR'd."""
    import pymupdf

    from ingest.ocr import ocr_page, raster_regions

    rows = []
    for path in sorted(pdfs.rglob("*.pdf")):
        rel = path.relative_to(pdfs).as_posix()
        with pymupdf.open(path) as doc:
            for page in doc:
                if _needs_ocr(page):
                    continue
                for region in raster_regions(page, min_share=min_share):
                    t0 = time.process_time()
                    lines = ocr_page(page, clip=region, dpi=dpi, settings=settings)
                    seconds = time.process_time() - t0
                    text = " ".join(ln.text for ln in lines)
                    rows.append({"file": rel, "page": page.number + 1, "share": abs(region) / abs(page.rect),
                                 "cpu_s": seconds, "lines": len(lines), "chars": len(text.replace(" ", "")),
                                 "text": text[:80]})
                    log.info("%s p%d region %.2f: %d lines %.1fs %s", rel, page.number + 1, rows[-1]["share"],
                             len(lines), seconds, text[:60])
    with_text = [r for r in rows if r["chars"] >= 10]
    summary = {"regions": len(rows), "pages": len({(r["file"], r["page"]) for r in rows}),
               "files": len({r["file"] for r in rows}), "cpu_s": sum(r["cpu_s"] for r in rows),
               "with_text": len(with_text), "cpu_s_with_text": sum(r["cpu_s"] for r in with_text),
               "cpu_s_without_text": sum(r["cpu_s"] for r in rows if r["chars"] < 10)}
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ocr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS, help="the eval PDFs folder")
    parser.add_argument("--dpi", type=int, nargs="+", default=[150, 200, 300],
                        help="OCR resolutions to compare on the synthetic scans")
    parser.add_argument("--lang", nargs="+", default=["Hangul", "kor"], help="Tesseract models to compare")
    parser.add_argument("--scan-dpi", type=int, nargs="+", default=[300], help="resolution of the synthetic scans")
    parser.add_argument("--real-dpi", type=int, nargs="+", help="OCR resolution(s) for the real scans and the "
                        "regions (default: the product's, RAG_OCR_DPI)")
    parser.add_argument("--baseline", action="store_true",
                        help="also score PyMuPDF's plain get_textpage_ocr on the synthetic scans")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-regions", action="store_true")
    parser.add_argument("--json", type=Path, help="write all results here")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    from docqa.config import Settings
    from ingest.ocr import ocr_status

    settings = Settings.from_env()
    available, reason = ocr_status(settings)
    if not available:
        print(reason, file=sys.stderr)
        return 1
    real_dpis = args.real_dpi or [settings.ocr_dpi]
    out: dict = {"settings": {"ocr_dpi": settings.ocr_dpi, "ocr_lang": settings.ocr_lang,
                              "tessdata": settings.tessdata}}
    if not args.skip_synthetic:
        rows = run_synthetic(args.pdfs, args.dpi, args.lang, args.scan_dpi, settings, args.baseline)
        out["synthetic"] = rows
        print(f"## Synthetic scans ({len(GROUND_TRUTH_PAGES)} pages with a text layer, rasterised)\n")
        print(markdown_table(list(rows[0]), [list(r.values()) for r in rows]) + "\n")
    if not args.skip_real:
        out["real"], out["samples"] = [], {}
        for dpi in real_dpis:
            rows, samples = run_real(args.pdfs, dpi, settings)
            out["real"] += rows
            out["samples"].update(samples)
        print("## Scanned and outlined pages of ../shared/eval\n")
        print(markdown_table(list(out["real"][0]), [list(r.values()) for r in out["real"]]) + "\n")
        for rel, lines in out["samples"].items():
            print(f"Sample, {rel}:\n\n" + "\n".join(f"    {ln}" for ln in lines) + "\n")
    if not args.skip_regions:
        rows, summary = run_regions(args.pdfs, real_dpis[0], settings)
        out["regions"], out["regions_summary"] = rows, summary
        print(f"## Raster regions on text pages (min_share 0.05, {real_dpis[0]} dpi)\n")
        print(markdown_table(list(summary), [list(summary.values())]) + "\n")
        by_file: dict[str, list[dict]] = {}
        for r in rows:
            by_file.setdefault(r["file"], []).append(r)
        print(markdown_table(["file", "regions", "with text", "cpu_s", "chars"],
                             [[f, len(rs), sum(r["chars"] >= 10 for r in rs), sum(r["cpu_s"] for r in rs),
                               sum(r["chars"] for r in rs)] for f, rs in sorted(by_file.items())]) + "\n")
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
