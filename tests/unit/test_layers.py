"""Payloads, widgets and export import with torch blocked; the package is lazy."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_presentation_layers_import_without_torch() -> None:
    r = run("""
        import sys
        for name in ("torch", "transformer_lens", "sae_lens"):
            sys.modules[name] = None  # any import of these now raises ImportError
        import featurecard.core.codecs, featurecard.core.export, featurecard.core.view
        import featurecard.card.payload, featurecard.graph.payload, featurecard.nodes.payload
        import featurecard.card.widget, featurecard.graph.widget, featurecard.nodes.widget
        from featurecard.card.widget import FeatureCard
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_import_featurecard_loads_no_model_library() -> None:
    r = run("""
        import sys, featurecard
        heavy = [m for m in ("torch", "transformer_lens", "sae_lens", "transformers") if m in sys.modules]
        print(heavy, featurecard.__version__)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("[] "), r.stdout
