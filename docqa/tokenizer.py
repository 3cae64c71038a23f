"""A tokenizer that loads without transformers (and so without torch).

`TextTokenizer` wraps a `tokenizers.Tokenizer` read from the model folder's
`tokenizer.json` and offers the slice of the transformers tokenizer API the product
uses: `tok(texts, add_special_tokens=..., truncation=..., max_length=...)["input_ids"]`,
`pad_token_id`, `len(tok)` and `save_pretrained(folder)`. It gives the same ids as
the transformers fast tokenizer, which is built from the same file.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model")


class TextTokenizer:
    """transformers-like tokenizer over `tokenizers.Tokenizer` (right padding)."""

    padding_side = "right"

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer, pre_tokenizers

        self.folder = Path(folder)
        self._tok = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        if isinstance(self._tok.pre_tokenizer, pre_tokenizers.Metaspace):
            # transformers splits on whitespace first (so trailing spaces and newlines yield no lone "▁"
            # piece); do the same, or token counts and vectors would differ from the transformers path
            self._tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                               self._tok.pre_tokenizer])
        self._tok.no_truncation()
        self._tok.no_padding()
        config = read_json(self.folder / "tokenizer_config.json")
        pad = config.get("pad_token", "<pad>")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        found = self._tok.token_to_id(pad) if isinstance(pad, str) else None
        self.pad_token_id = int(found) if found is not None else 0
        self.model_max_length = int(config.get("model_max_length") or 512)
        # how many specials a single sequence gets (<s> … </s>: 2)
        self._specials = self._tok.post_processor.num_special_tokens_to_add(False) if self._tok.post_processor else 0

    def __call__(self, texts: str | list[str], add_special_tokens: bool = True, truncation: bool = False,
                 max_length: int | None = None, **_ignored) -> dict[str, list]:
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        encodings = self._tok.encode_batch(batch, add_special_tokens=add_special_tokens) if batch else []
        ids = [e.ids for e in encodings]
        if truncation and max_length:
            ids = [self._truncate(row, max_length, add_special_tokens) for row in ids]
        return {"input_ids": ids[0] if single else ids}

    def _truncate(self, row: list[int], max_length: int, specials: bool) -> list[int]:
        """Cut the text, not the specials (as transformers does for one sequence)."""
        if len(row) <= max_length:
            return row
        tail = 1 if specials and self._specials >= 2 else 0
        return row[: max_length - tail] + row[len(row) - tail:]

    def __len__(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def save_pretrained(self, folder: str | Path) -> None:
        """Copy the tokenizer files, so transformers' AutoTokenizer can load `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in _TOKENIZER_FILES:
            if (self.folder / name).exists():
                shutil.copyfile(self.folder / name, folder / name)


def read_json(path: Path) -> dict:
    """A JSON file's object; {} when it is missing or unreadable (logged)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        log.warning("unreadable %s: %s", path, exc)
        return {}


def load_tokenizer(folder: Path):
    """`TextTokenizer` when the folder has a tokenizer.json, else transformers' AutoTokenizer."""
    folder = Path(folder)
    if (folder / "tokenizer.json").exists():
        return TextTokenizer(folder)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))
