"""The parser's public entry (implementation in ingest.pdf): parse a document's bytes, and its id."""

from ingest.pdf import PARSER_VERSION, doc_id_of, parse_pdf, parse_pdf_path

__all__ = ["PARSER_VERSION", "doc_id_of", "parse_pdf", "parse_pdf_path"]
