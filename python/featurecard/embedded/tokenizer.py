"""The demo tokenizer: byte-level BPE trained on the corpus, saved as a Hugging Face folder.

* ``tokenizers`` BPE with the ByteLevel pre-tokenizer and decoder and the full 256-byte initial
  alphabet, so every string encodes (there is no unknown token).
* ``<|endoftext|>`` is special token 0. It is BOS, EOS and padding, and it separates paragraphs.
* A ``TemplateProcessing`` post-processor prepends it, so TransformerLens detects
  ``tokenizer_prepends_bos`` and ``to_tokens`` yields exactly one BOS.

TransformerLens reloads the tokenizer with ``AutoTokenizer.from_pretrained(tokenizer.name_or_path)``,
so an in-memory ``PreTrainedTokenizerFast(tokenizer_object=...)`` fails there (``KeyError:
'name_or_path'``). We therefore always ``save_pretrained`` a folder and load it back from disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

EOT = "<|endoftext|>"
EOT_ID = 0


def train_tokenizer(paragraphs: Sequence[str], vocab_size: int, folder: Path) -> Any:
    """Train byte-level BPE on ``paragraphs``, save it to ``folder`` and return it loaded from there."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(paragraphs, trainer, length=len(paragraphs))
    if tk.token_to_id(EOT) != EOT_ID:
        raise RuntimeError(f"{EOT} should be token {EOT_ID}, got {tk.token_to_id(EOT)}")
    tk.post_processor = processors.TemplateProcessing(single=f"{EOT} $A", special_tokens=[(EOT, EOT_ID)])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=EOT, eos_token=EOT, pad_token=EOT)
    folder.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(folder))
    return load_tokenizer(folder)


def load_tokenizer(folder: Path) -> Any:
    """The tokenizer saved in ``folder``, loaded from disk (the form TransformerLens accepts)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(folder))


def encode_stream(tokenizer: Any, paragraphs: Sequence[str], batch_size: int = 4096) -> NDArray[np.int64]:
    """All paragraphs as one token stream, each followed by ``<|endoftext|>`` (no BOS of their own).

    ``encode_batch`` on the Rust backend runs on all cores; one giant string would be ~4x slower.
    """
    backend = tokenizer.backend_tokenizer
    pieces: list[NDArray[np.int64]] = []
    for start in range(0, len(paragraphs), batch_size):
        for enc in backend.encode_batch(list(paragraphs[start : start + batch_size]), add_special_tokens=False):
            pieces.append(np.asarray(enc.ids, dtype=np.int64))
            pieces.append(np.array([EOT_ID], dtype=np.int64))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


__all__ = ["EOT", "EOT_ID", "encode_stream", "load_tokenizer", "train_tokenizer"]
