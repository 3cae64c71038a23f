"""PDF parsing: pages of blocks (paragraphs, headings, items, tables, figures) in reading order.

Modules, one job each: glyphs (text lines, word spacing), furniture (running headers and
page numbers), status (scanned/garbled pages), tables (ruled and borderless), figures
(charts, diagrams, pictures with their text), captions, layout (reading order),
paragraphs (lines into paragraphs), ocrtext (OCR of scans and images), document (the
stages in order). Geometric thresholds live in params.
"""

from ingest.pdf.document import PARSER_VERSION, doc_id_of, parse_pdf, parse_pdf_path

__all__ = ["PARSER_VERSION", "doc_id_of", "parse_pdf", "parse_pdf_path"]
