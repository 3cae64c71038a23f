"""The format front door: which files can be indexed, and the parser for each (PDF for now)."""

from __future__ import annotations

from docqa.types import ParsedDocument
from ingest.parse import parse_pdf

SUPPORTED_SUFFIXES = (".pdf",)


def parse_document(data: bytes, file_name: str) -> ParsedDocument:
    """Parse a supported file into pages of blocks."""
    return parse_pdf(data, file_name)
