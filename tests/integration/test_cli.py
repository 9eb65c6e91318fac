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
from featurecard.core.codecs import decode_array
from featurecard.core.sae_input import as_sae
from featurecard.core.saelens_folder import save_saelens_folder

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


# -- bad input: one line on stderr, exit 2, no traceback ---------------------------------------------


def run_card(tmp_path: Path, tokens: Path, out: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The card command on a model folder that does not exist: the checks under test come first."""
    args = ["card", "--model", str(tmp_path / "no-model"), "--sae", str(tmp_path / "no-sae")]
    args += ["--tokens", str(tokens), "--feature", "0", "--out", str(out or tmp_path / "x.html"), "--quiet"]
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def assert_one_line_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("featurecard: error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bool"])
def test_card_command_refuses_non_integer_npy_tokens(tmp_path: Path, dtype: str) -> None:
    # 1.7 would be cast to token 1 without a word; the file's dtype is named instead.
    np.save(tmp_path / "t.npy", np.full((2, 8), 1.7).astype(dtype))
    assert_one_line_error(run_card(tmp_path, tmp_path / "t.npy"), str(tmp_path / "t.npy"), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.bool])
def test_card_command_refuses_non_integer_pt_tokens(tmp_path: Path, dtype: torch.dtype) -> None:
    torch.save(torch.full((2, 8), 1.7).to(dtype), tmp_path / "t.pt")
    assert_one_line_error(run_card(tmp_path, tmp_path / "t.pt"), str(tmp_path / "t.pt"), str(dtype))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("t.pt", b"this is not a torch file\n" * 10),
        ("t.pt", b""),
        ("t.npy", b"\x93NUMPY garbage"),
        ("t.txt", b"\xff\xfe not utf-8 \xc3"),
    ],
)
def test_card_command_reports_an_unreadable_token_file_in_one_line(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    assert_one_line_error(run_card(tmp_path, tmp_path / name), f"token file {tmp_path / name} cannot be read")


def test_card_command_refuses_a_pt_without_a_tensor(tmp_path: Path) -> None:
    torch.save({"tokens": torch.ones(2, 8, dtype=torch.int64)}, tmp_path / "t.pt")
    assert_one_line_error(run_card(tmp_path, tmp_path / "t.pt"), "holds a dict, not a tensor")


def test_card_command_refuses_a_directory_as_out(tmp_path: Path) -> None:
    np.save(tmp_path / "t.npy", np.ones((2, 8), dtype=np.int64))
    (tmp_path / "outdir").mkdir()
    r = run_card(tmp_path, tmp_path / "t.npy", out=tmp_path / "outdir")
    assert_one_line_error(r, f"--out {tmp_path / 'outdir'} is a directory")


def test_demo_command_refuses_a_directory_as_out_before_building(tmp_path: Path) -> None:
    r = subprocess.run([*CLI, "demo", "--out", str(tmp_path), "--quiet"], capture_output=True, text=True, timeout=120)
    assert_one_line_error(r, f"--out {tmp_path} is a directory")


def test_load_tokens_keeps_integer_ids_exactly(tmp_path: Path) -> None:
    from featurecard.cli import load_tokens

    ids = np.array([[0, 5, 2**31 - 1], [7, 1, 3]], dtype=np.int64)
    for dtype in ("int64", "int32", "uint16", "uint8"):
        small = ids % 256 if dtype in ("uint16", "uint8") else ids
        np.save(tmp_path / "t.npy", small.astype(dtype))
        t = load_tokens(tmp_path / "t.npy")
        assert t.dtype == torch.int64 and t.tolist() == small.tolist()
    torch.save(torch.from_numpy(ids).to(torch.int32), tmp_path / "t.pt")
    assert load_tokens(tmp_path / "t.pt").tolist() == ids.tolist()


def _index(folder: Path, sae: Path, tokens: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["index", "--model", str(folder), "--sae", str(sae), "--tokens", str(tokens), "--out", str(out)]
    return subprocess.run([*CLI, *args, *extra], capture_output=True, text=True, timeout=300)


def test_index_command_builds_a_store_that_workspace_open_reads(hf_folder: tuple[Path, Any], tmp_path: Path) -> None:
    from featurecard.card.index_pass import index_pass
    from featurecard.cli import load_model_folder
    from featurecard.core.model import ModelAdapter
    from featurecard.workspace import Workspace

    folder, hf = hf_folder
    sae = as_sae({**tiny.random_sae_weights(128, 64, seed=5), "hook_name": "blocks.0.mlp.hook_post"})
    save_saelens_folder(sae, tmp_path / "sae")
    g = torch.Generator().manual_seed(1)
    toks = torch.randint(1, hf.config.vocab_size, (12, 20), generator=g)
    np.save(tmp_path / "tokens.npy", toks.numpy().astype(np.int32))
    r = _index(folder, tmp_path / "sae", tmp_path / "tokens.npy", tmp_path / "store", "--memory-budget", "250KB",
               "--quiet", "--batch-size", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "wrote the activation store" in r.stdout
    model = load_model_folder(folder)
    ws = Workspace.open(tmp_path / "store", model, progress=False)  # the SAE from the folder the store records
    assert torch.equal(ws.tokens, toks)
    want = index_pass(ModelAdapter(model), {"sae": sae}, toks, progress=False).indexes["sae"]
    got = ws.index("sae")
    assert got.n_tokens == want.n_tokens and torch.equal(got.max_act, want.max_act)
    for u in range(64):
        (gp, gv), (wp, wv) = got.column(u), want.column(u)
        assert torch.equal(gp, wp.long()) and torch.equal(gv, wv), u


@pytest.mark.parametrize(
    ("extra", "tokens", "match"),
    [
        (["--memory-budget", "lots"], np.ones((2, 8), dtype=np.int64), "memory_budget 'lots' is not understood"),
        ([], np.ones((2, 8), dtype=np.float32), "integer token ids"),
        ([], np.ones(8, dtype=np.int64), r"shape \[n_rows, seq_len\]"),
    ],
)
def test_index_command_reports_bad_input(
    hf_folder: tuple[Path, Any], tmp_path: Path, extra: list[str], tokens: np.ndarray, match: str
) -> None:
    folder, _ = hf_folder
    np.save(tmp_path / "t.npy", tokens)
    r = _index(folder, tmp_path / "no-sae", tmp_path / "t.npy", tmp_path / "store", *extra)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("featurecard: error:") and re.search(match, lines[0]), r.stderr
