"""Domain errors. Each carries a Korean message a user can read as-is."""

from __future__ import annotations


class DocQAError(Exception):
    """Base class: `str(err)` is a Korean, user-readable message."""


class IngestError(DocQAError):
    """A file could not be ingested; nothing of it was written to the index."""

    def __init__(self, file_name: str, reason: str):
        self.file_name = file_name
        self.reason = reason
        super().__init__(f"'{file_name}': {reason}")


class NotPDFError(IngestError):
    pass


class UnsupportedFormatError(IngestError):
    """Not a PDF, HWP or HWPX file (or an older HWP version, or a zip that is not OWPML)."""


class CorruptDocumentError(IngestError):
    """An HWP or HWPX file that is damaged or cut short."""


class EncryptedDocumentError(IngestError):
    """A password-protected or distribution-only (배포용) HWP/HWPX document: its text is encrypted."""


class EmptyFileError(IngestError):
    pass


class CorruptPDFError(IngestError):
    pass


class EncryptedPDFError(IngestError):
    pass


class NoPagesError(IngestError):
    pass


class NoTextError(IngestError):
    """Every page is a scan or garbled: nothing to index without OCR."""


class TooLargeError(IngestError):
    pass


class ModelMismatchError(DocQAError):
    """The index was built with another embedding model or chunker settings."""


class StoreError(DocQAError):
    pass


class SearchInputError(DocQAError):
    pass


class OcrUnavailableError(DocQAError):
    """OCR can't run here (no Tesseract data, PyMuPDF without OCR, or switched off); the message says why."""
