"""The `featurecard` command on the real loading paths: a Hugging Face folder loaded with
TransformerBridge.boot_transformers, and a SAELens folder on disk."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import tiny
from featurecard.adapters.sae import as_sae
from featurecard.adapters.saelens_folder import save_saelens_folder
from featurecard.state.codecs import decode_array

CLI = [sys.executable, "-m", "featurecard.cli"]


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A tiny random GPT-2 saved with save_pretrained, with our BPE tokenizer beside it."""
    from transformers import GPT2Config, GPT2LMHeadModel

    d = tmp_path_factory.mktemp("hf")
    tok = tiny.make_tokenizer(d)
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok),
            n_positions=32,
            n_embd=32,
            n_layer=2,
            n_head=2,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
        )
    )
    hf.save_pretrained(d)
    return d, hf


def state_from_html(path: Path) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="featurecard-data">(.*?)</script>', path.read_text(), re.S)
    assert m is not None
    return json.loads(m.group(1))["states"][0]  # type: ignore[no-any-return]


def test_card_command_on_hf_folder_and_saelens_folder(hf_folder: tuple[Path, Any], tmp_path: Path) -> None:
    folder, hf = hf_folder
    w = tiny.random_sae_weights(128, 64, seed=3)  # GPT-2's d_mlp = 4 * n_embd
    save_saelens_folder(as_sae({**w, "hook_name": "blocks.0.mlp.hook_post"}), tmp_path / "sae")
    g = torch.Generator().manual_seed(0)
    toks = torch.randint(1, hf.config.vocab_size, (6, 20), generator=g)
    toks[:, 0] = 0
    np.save(tmp_path / "tokens.npy", toks.numpy())
    out = tmp_path / "card.html"
    r = subprocess.run(
        [
            *CLI,
            "card",
            "--model",
            str(folder),
            "--sae",
            str(tmp_path / "sae"),
            "--tokens",
            str(tmp_path / "tokens.npy"),
            "--feature",
            "7",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    st = state_from_html(out)
    assert st["feature"] == 7 and st["hook_name"] == "blocks.0.mlp.hook_post"
    # Independent of TransformerLens: the Hugging Face weights themselves (Conv1D stores [in, out]).
    with torch.no_grad():
        direction = w["W_dec"][7] @ hf.transformer.h[0].mlp.c_proj.weight
        logits = direction @ hf.lm_head.weight.T
    top = decode_array(st["logits"]["top_values"])
    np.testing.assert_allclose(top, logits.topk(10).values.numpy(), atol=1e-4, rtol=1e-4)


def test_card_command_reports_bad_input(hf_folder: tuple[Path, Any], tmp_path: Path) -> None:
    folder, _ = hf_folder
    save_saelens_folder(
        as_sae({**tiny.random_sae_weights(128, 64), "hook_name": "blocks.0.mlp.hook_post"}), tmp_path / "sae"
    )
    np.save(tmp_path / "t.npy", np.ones((2, 8), dtype=np.int64))
    r = subprocess.run(
        [
            *CLI,
            "card",
            "--model",
            str(folder),
            "--sae",
            str(tmp_path / "sae"),
            "--tokens",
            str(tmp_path / "t.npy"),
            "--feature",
            "64",
            "--out",
            str(tmp_path / "x.html"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2
    assert "feature 64 is out of range for 'sae': accepted 0 .. 63" in r.stderr


def test_help_documents_every_command() -> None:
    exe = shutil.which("featurecard") or ""
    r = subprocess.run([exe, "--help"] if exe else [*CLI, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for cmd in ("demo", "card"):
        assert cmd in r.stdout
    for cmd, flags in {
        "demo": ["--feature", "--out"],
        "card": ["--model", "--sae", "--tokens", "--feature", "--out"],
    }.items():
        h = subprocess.run([*CLI, cmd, "--help"], capture_output=True, text=True, timeout=60)
        assert h.returncode == 0 and all(f in h.stdout for f in flags), h.stdout
