"""HWP/HWPX bytes -> a printable PDF of its pages, laid out by rhwp, with a Korean text layer.

rhwp (MIT, Rust) lays a document out and draws each page as SVG: shapes, lines and images,
and every glyph as its own <text> element at its laid-out position. MuPDF could convert that
SVG as it is, but it loads and embeds a whole CJK font for every page (about 1 s and 2 MB a
page). So the SVG is split: MuPDF converts the page without its text (shapes, table rules,
images: milliseconds), and the glyphs are written here onto that page at their positions with
one built-in CJK font (MuPDF's Droid Sans Fallback, with MuPDF's own fallbacks for symbols),
subset once for the whole document. The PDF text layer then holds the document's own
characters where the page shows them, which is all the PDF parser needs.

Sizes: rhwp draws in CSS pixels (96 per inch); the PDF is in points (72 per inch).
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import functools
import logging
import re
import unicodedata
import xml.etree.ElementTree as ET
from typing import Any

import pymupdf
from pymupdf import mupdf

log = logging.getLogger(__name__)

_PX = 72 / 96  # CSS pixel -> point
_SVG = "{http://www.w3.org/2000/svg}"
_TEXT_ELEMENT = re.compile(r"<text\b[^>]*>.*?</text>", re.S)
_IMAGE_ELEMENT = re.compile(r"<image\b[^>]*?/>|<image\b[^>]*>\s*</image>")
_ATTRIBUTE = re.compile(r'([\w:-]+)="([^"]*)"')
_FONT_FAMILY = re.compile(r'\sfont-family="[^"]*"')  # a long fallback list on every glyph; unused here
_TRANSFORM = re.compile(r"(\w+)\s*\(([^)]*)\)")
_BOLD = {"bold", "bolder", "600", "700", "800", "900"}
_ITALIC_SKEW = 0.2  # slant of a synthetic italic (rhwp asks for italic on few glyphs)
_CENTRAL = 0.35  # dominant-baseline="central": the baseline sits this many em below y


class RenderError(RuntimeError):
    """rhwp could not load, parse or lay out the document."""


@functools.cache
def load_rhwp() -> Any:
    """The rhwp module, or RenderError when it cannot be imported here.

    The wheel's bundled FreeType lacks a symbol its extension needs (FT_Palette_Data_Get);
    loading the system FreeType first, globally, lets the extension bind to it instead.
    """
    path = ctypes.util.find_library("freetype") or "libfreetype.so.6"
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        log.warning("system FreeType (%s) not loaded: %s", path, exc)
    try:
        import rhwp
    except ImportError as exc:
        raise RenderError(f"rhwp cannot be imported: {exc}") from exc
    return rhwp


def open_layout(data: bytes) -> Any:
    """rhwp's document (parsed and laid out); RenderError when rhwp fails on it."""
    rhwp = load_rhwp()
    try:
        return rhwp._rhwp._Document.from_bytes(data)
    except Exception as exc:
        raise RenderError(f"rhwp cannot read the document: {exc}") from exc
    except BaseException as exc:  # a Rust panic arrives as pyo3's PanicException (a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise RenderError(f"rhwp failed on the document: {type(exc).__name__}: {exc}") from exc


def render_pdf(data: bytes) -> bytes:
    """The document's pages as a PDF (one page per laid-out page); RenderError when rhwp fails."""
    layout = open_layout(data)
    out = pymupdf.open()
    try:
        count = layout.page_count
        if count <= 0:
            raise RenderError("rhwp laid out no pages")
        for index in range(count):
            try:
                svg = layout.render_svg(index)
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                raise RenderError(f"rhwp cannot draw page {index + 1}: {type(exc).__name__}: {exc}") from exc
            _add_page(out, svg)
        out.subset_fonts()
        return out.tobytes(garbage=3, deflate=True)
    finally:
        out.close()


# ---------------------------------------------------------------------------- one page


def _add_page(out: pymupdf.Document, svg: str) -> None:
    """Append the SVG page to `out`: its drawing converted by MuPDF, its glyphs written here."""
    try:
        root = ET.fromstring(_FONT_FAMILY.sub("", svg))
        width, height = _length(root.get("width")), _length(root.get("height"))
    except (ET.ParseError, ValueError) as exc:
        raise RenderError(f"rhwp drew an unreadable page: {exc}") from exc
    page = out.new_page(width=width * _PX, height=height * _PX)
    images: list[tuple[pymupdf.Rect, bytes]] = []

    def take_image(match: re.Match) -> str:
        # Embedded pictures go in as they are (a JPEG stays a JPEG): through MuPDF's SVG
        # converter they would be decoded and compressed again, most of an illustrated page's time.
        image = _embedded_image(match.group(0))
        if image is None:
            return match.group(0)
        images.append(image)
        return ""

    drawing = _IMAGE_ELEMENT.sub(take_image, _TEXT_ELEMENT.sub("", svg))
    with pymupdf.open(stream=drawing.encode("utf-8"), filetype="svg") as src:
        with pymupdf.open("pdf", src.convert_to_pdf()) as shapes:
            page.show_pdf_page(page.rect, shapes, 0)
    for rect, data in images:
        try:
            page.insert_image(rect, stream=data, keep_proportion=False)
        except Exception as exc:  # noqa: BLE001 - a picture MuPDF cannot decode is left out, the page stays
            log.debug("embedded image not drawn: %r", exc)
    _write_glyphs(page, root)


def _embedded_image(tag: str) -> tuple[pymupdf.Rect, bytes] | None:
    """The rectangle (points) and bytes of an <image> holding a base64 data URI, else None."""
    attrs = dict(_ATTRIBUTE.findall(tag))
    href = attrs.get("href") or attrs.get("xlink:href") or ""
    if not href.startswith("data:") or ";base64," not in href[:100] or "transform" in attrs:
        return None
    try:
        x, y, w, h = (float(attrs[k]) * _PX for k in ("x", "y", "width", "height"))
        data = base64.b64decode(href.split(",", 1)[1])
    except (KeyError, ValueError) as exc:
        log.debug("unreadable <image>: %r", exc)
        return None
    if w <= 0 or h <= 0:
        return None
    return pymupdf.Rect(x, y, x + w, y + h), data


def _length(value: str | None) -> float:
    number = float(re.match(r"\s*([0-9.]+)", value or "").group(1))  # type: ignore[union-attr]
    if number <= 0:
        raise ValueError(f"page size {value!r}")
    return number


def _write_glyphs(page: pymupdf.Page, root: ET.Element) -> None:
    """Every <text> of the SVG as glyphs at its position, size, colour, width scale and weight.

    Glyphs are written in the SVG's order (the reading order of the layout), one TextWriter
    per run of one colour and render mode: MuPDF groups text into lines and blocks in the
    order it is written, so a bold word must come between its neighbours, not after the
    page's plain text. Each glyph gets its own matrix (position, horizontal scale for
    condensed text and textLength, slant for italics).
    """
    height = page.rect.height
    run: tuple[str, int] | None = None
    writer: pymupdf.TextWriter | None = None
    for style, size, x, y, scale, skew, glyphs in _glyph_runs(root):
        if style != run or writer is None:
            if writer is not None and run is not None:
                writer.write_text(page, render_mode=run[1])
            run, writer = style, pymupdf.TextWriter(page.rect, color=_rgb(style[0]))
        fs = size * _PX
        px, py = x * _PX, height - y * _PX  # TextWriter works in PDF space (y up)
        for ch, gid, font, advance in glyphs:
            matrix = mupdf.FzMatrix(fs * scale, 0, fs * skew, fs, px, py)
            mupdf.fz_show_glyph(writer.this, font, matrix, gid, ord(ch), 0, 0, 0, 0)
            px += advance * fs * scale
    if writer is not None and run is not None:
        writer.write_text(page, render_mode=run[1])


_FILL, _BOLD_MODE, _INVISIBLE = 0, 2, 3  # PDF text render modes; 2 = fill and a thin stroke (bold)
_DOT = "\u00b7"


def _glyph_runs(root: ET.Element):
    """(style, font size, x, baseline y, width scale, slant, glyphs) per <text> of the SVG, in order.

    rhwp draws a middle dot ("·" between words: "수집·이용") as a small filled circle, not as
    text; such a dot on the line of the text before it becomes an invisible "·" glyph, so the
    text layer reads as the document does (the circle itself is drawn with the shapes).
    """
    last: tuple[float, float] | None = None  # size and baseline of the previous text
    text_tag, circle_tag = _SVG + "text", _SVG + "circle"
    for element in root.iter():
        tag = element.tag
        if tag == circle_tag:
            dot = _dot(element, last)
            if dot is not None:
                yield dot
            continue
        if tag != text_tag:
            continue
        text = element.text
        if not text or text.isspace():
            continue
        if not text.isascii():
            text = unicodedata.normalize("NFC", text)
        at = element.attrib
        try:
            size = float(at.get("font-size") or 12)
            if "transform" in at:
                a, d, e, f = _transform(at["transform"])
            else:
                a, d, e, f = 1.0, 1.0, 0.0, 0.0
            x = e + float(at.get("x") or 0) * a
            y = f + float(at.get("y") or 0) * d
            stretch = float(at.get("textLength") or 0)
        except ValueError:
            log.debug("unreadable <text> attributes: %s", at)
            continue
        glyphs = _glyphs(text[0]) if len(text) == 1 else tuple(g for ch in text for g in _glyphs(ch))
        natural = sum(g[3] for g in glyphs) * size
        scale = stretch / natural if stretch > 0 and natural > 0 else a
        anchor = at.get("text-anchor")
        if anchor == "middle":
            x -= natural * scale / 2
        elif anchor == "end":
            x -= natural * scale
        if at.get("dominant-baseline") == "central":
            y += _CENTRAL * size
        mode = _BOLD_MODE if at.get("font-weight") in _BOLD else _FILL
        skew = _ITALIC_SKEW if at.get("font-style") in ("italic", "oblique") else 0.0
        last = (size, y)
        yield (at.get("fill") or "#000000", mode), size, x, y, scale, skew, glyphs


def _dot(circle: ET.Element, last: tuple[float, float] | None):
    """An invisible middle dot for a small circle set at mid-height of the previous text's line."""
    if last is None:
        return None
    size, baseline = last
    try:
        cx, cy, r = (float(circle.get(k) or "nan") for k in ("cx", "cy", "r"))
    except ValueError:
        return None
    if not (0 < r <= 0.15 * size and baseline - 0.8 * size <= cy <= baseline):
        return None
    glyphs = _glyphs(_DOT)
    width = sum(g[3] for g in glyphs) * size
    return ("#000000", _INVISIBLE), size, cx - width / 2, baseline, 1.0, 0.0, glyphs


@functools.cache
def _base_font() -> pymupdf.Font:
    return pymupdf.Font("cjk")


@functools.cache
def _glyphs(ch: str) -> tuple[tuple[str, int, Any, float], ...]:
    """How to draw a character: (character, glyph id, MuPDF font, advance in em) per glyph.

    The CJK font first, then MuPDF's built-in fallbacks (Noto Serif, math, symbols). A
    character no built-in font has is drawn as its compatibility form ("㉒" -> "22", "￭" ->
    "■") when that has glyphs, else left out: written as glyph 0 it would come back as U+0000.
    """
    gid, font = mupdf.fz_encode_character_with_fallback(_base_font().this, ord(ch), 0, 0)
    if gid or ch.isspace():
        return ((ch, gid, font, mupdf.fz_advance_glyph(font, gid, 0)),)
    compat = unicodedata.normalize("NFKC", ch)
    if compat != ch:
        return tuple(g for c in compat for g in _glyphs(c))
    log.debug("no font draws %r (U+%04X)", ch, ord(ch))
    return ()


def _transform(value: str) -> tuple[float, float, float, float]:
    """The scale (a, d) and offset (e, f) of an SVG transform of translate/scale steps."""
    a, d, e, f = 1.0, 1.0, 0.0, 0.0
    for name, args in _TRANSFORM.findall(value):
        numbers = [float(v) for v in re.split(r"[\s,]+", args.strip()) if v]
        if not numbers:
            continue
        if name == "translate":
            e += a * numbers[0]
            f += d * (numbers[1] if len(numbers) > 1 else 0.0)
        elif name == "scale":
            a *= numbers[0]
            d *= numbers[1] if len(numbers) > 1 else numbers[0]
        else:
            log.debug("SVG transform %s ignored", name)
    return a, d, e, f


def _rgb(value: str) -> tuple[float, float, float]:
    value = value.strip()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return tuple(int(value[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]
    if re.fullmatch(r"#[0-9a-fA-F]{3}", value):
        return tuple(int(c * 2, 16) / 255 for c in value[1:])  # type: ignore[return-value]
    return (0.0, 0.0, 0.0)
