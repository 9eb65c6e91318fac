"""Contribution graphs against independent references.

The references: TransformerLens's own ``run_with_cache`` for the activations, and a plain Python
loop that builds every part vector one at a time and scores it with the proximity formula
written out here again (not :func:`featurecard.graph.contributions.proximity`).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import pytest
import torch

import tiny
from featurecard.core.model import ModelAdapter
from featurecard.core.sae_input import as_sae
from featurecard.graph.blocks import ArchitectureError, BlockModel, Layout
from featurecard.graph.build import ContributionData, GraphOptions, build_graph, contributions
from featurecard.graph.contributions import EPS, attention_contributions, block_contributions

N_POS = 10
HOOKED = int(version("transformer-lens").split(".")[0]) < 4  # TransformerLens 4 has the bridge only
TOL = 1e-5  # float32 against the float64 loop: ||w|| - ||w - p|| cancels ~7 digits; bugs move shares far more


def naive_shares(whole: torch.Tensor, parts: list[torch.Tensor]) -> torch.Tensor:
    """LLM Transparency Tool's measure, one part at a time, in float64."""
    w = whole.detach().double()
    scores = [max(float(w.abs().sum() - (w - p.detach().double()).abs().sum()), EPS) for p in parts]
    t = torch.tensor(scores, dtype=torch.float64)
    return t / t.sum()


def cache_of(model: Any, tokens: torch.Tensor) -> Any:
    _, cache = model.run_with_cache(tokens[None])
    return cache


@pytest.fixture(scope="module")
def prompt(tok: Any) -> torch.Tensor:
    return tiny.random_tokens(tok, batch=1, pos=N_POS, seed=3)[0]


def sae_on(hook: str, d_in: int, d_sae: int, seed: int) -> Any:
    return as_sae({**tiny.random_sae_weights(d_in, d_sae, seed=seed), "hook_name": hook})


def test_proximity_by_hand() -> None:
    whole = torch.tensor([[1.0, 0.0, 2.0]])
    parts = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 0.0, 2.0]], [[0.0, 5.0, 0.0]]])
    # ||w||=3; distances 2, 1, 8 -> scores 1, 2, clipped to eps
    got = block_contributions(whole, parts)[:, 0]
    want = torch.tensor([1.0, 2.0, EPS]) / (3.0 + EPS)
    torch.testing.assert_close(got, want)


def test_attention_parts_reproduce_resid_mid(model: Any, prompt: torch.Tensor) -> None:
    cache = cache_of(model, prompt)
    blocks = BlockModel(ModelAdapter(model))
    for layer in range(2):
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"][0]
        writes = blocks.head_writes(layer, cache[f"blocks.{layer}.attn.hook_v"][0])
        heads = torch.einsum("hqk,khd->qd", pattern, writes)  # sum over heads and source tokens
        got = heads + blocks.b_O(layer) + cache[f"blocks.{layer}.hook_resid_pre"][0]
        torch.testing.assert_close(got, cache[f"blocks.{layer}.hook_resid_mid"][0], atol=1e-5, rtol=0)
        post = cache[f"blocks.{layer}.mlp.hook_post"][0]
        w_out, b_out = blocks.neuron_rows(layer) or (None, None)
        assert w_out is not None and b_out is not None
        mlp = post @ w_out + b_out + cache[f"blocks.{layer}.hook_resid_mid"][0]
        torch.testing.assert_close(mlp, cache[f"blocks.{layer}.hook_resid_post"][0], atol=1e-5, rtol=0)


def naive_attention(model: Any, cache: Any, layer: int, q: int) -> tuple[torch.Tensor, dict[tuple[int, int], float]]:
    """(shares of [b_O, residual], {(key, head): share}) at query q, from a loop over parts."""
    pattern, v = cache[f"blocks.{layer}.attn.hook_pattern"][0], cache[f"blocks.{layer}.attn.hook_v"][0]
    keys = [(k, h) for k in range(q + 1) for h in range(pattern.shape[0])]
    parts = [pattern[h, q, k] * (v[k, h] @ model.W_O[layer, h]) for k, h in keys]
    parts += [model.b_O[layer], cache[f"blocks.{layer}.hook_resid_pre"][0, q]]
    shares = naive_shares(cache[f"blocks.{layer}.hook_resid_mid"][0, q], parts)
    return shares[-2:], {kh: float(s) for kh, s in zip(keys, shares, strict=False)}


@pytest.mark.parametrize("chunk_elements", [1, 1 << 24])  # one query per chunk, and all at once
def test_attention_contributions_match_a_loop_over_parts(model: Any, prompt: torch.Tensor, chunk_elements: int) -> None:
    cache = cache_of(model, prompt)
    data = contributions(
        ModelAdapter(model), prompt, options=GraphOptions(keep_above=0.0, chunk_elements=chunk_elements)
    )
    lay = data.layout
    for layer in range(2):
        level = lay.attn_out[layer]
        for q in range(N_POS):
            others, heads = naive_attention(model, cache, layer, q)
            assert float(data.bias[layer, q]) == pytest.approx(float(others[0]), abs=TOL)
            assert float(data.resid[level - 1, q]) == pytest.approx(float(others[1]), abs=TOL)
            per_head = [sum(s for (k, h), s in heads.items() if h == hh) for hh in range(2)]
            assert data.heads[layer, q].tolist() == pytest.approx(per_head, abs=TOL)
            mine = (data.edge_layer == layer) & (data.edge_query == q)
            assert int(mine.sum()) == q + 1  # keep_above=0: every causal source is an edge
            for k, share, hs in zip(data.edge_key[mine], data.edge_share[mine], data.edge_heads[mine], strict=True):
                want = [heads[(int(k), h)] for h in range(2)]
                assert hs.tolist() == pytest.approx(want, abs=TOL)
                assert float(share) == pytest.approx(sum(want), abs=TOL)
        # after the MLP: two parts
        for q in range(N_POS):
            want = naive_shares(
                cache[f"blocks.{layer}.hook_resid_post"][0, q],
                [cache[f"blocks.{layer}.hook_mlp_out"][0, q], cache[f"blocks.{layer}.hook_resid_mid"][0, q]],
            )
            assert float(data.mlp[layer, q]) == pytest.approx(float(want[0]), abs=TOL)
            assert float(data.resid[lay.mlp_out[layer] - 1, q]) == pytest.approx(float(want[1]), abs=TOL)


def test_every_state_sums_to_one(model: Any, prompt: torch.Tensor) -> None:
    saes = {"mlp0": sae_on("blocks.0.mlp.hook_post", 64, 48, 5), "mid1": sae_on("blocks.1.hook_resid_mid", 32, 40, 6)}
    data = contributions(ModelAdapter(model), prompt, saes, GraphOptions(keep_above=0.0))
    lay = data.layout
    for layer in range(2):
        attn = data.heads[layer].sum(-1) + data.bias[layer] + data.resid[lay.attn_out[layer] - 1]
        torch.testing.assert_close(attn, torch.ones(N_POS))
        torch.testing.assert_close(data.mlp[layer] + data.resid[lay.mlp_out[layer] - 1], torch.ones(N_POS))
    assert {(u.source, u.layer) for u in data.units} == {
        ("blocks.0.mlp.hook_post", 0), ("blocks.1.mlp.hook_post", 1), ("mlp0", 0), ("mid1", 1)
    }  # fmt: skip
    for u in data.units:
        torch.testing.assert_close(u.units + sum(u.parts.values()), torch.ones(N_POS))


def naive_units(
    whole: torch.Tensor, coefs: torch.Tensor, rows: torch.Tensor, others: list[torch.Tensor]
) -> torch.Tensor:
    parts = [coefs[j] * rows[j] for j in range(rows.shape[0])] + others
    return naive_shares(whole, parts)


def test_neuron_and_latent_contributions_match_a_loop(model: Any, prompt: torch.Tensor) -> None:
    mlp_sae, resid_sae = sae_on("blocks.0.mlp.hook_post", 64, 48, 5), sae_on("blocks.1.hook_resid_mid", 32, 40, 6)
    data = contributions(ModelAdapter(model), prompt, {"mlp0": mlp_sae, "mid1": resid_sae}, GraphOptions(top_units=5))
    groups = {u.source: u for u in data.units}
    cache = cache_of(model, prompt)
    post, mid0 = cache["blocks.0.mlp.hook_post"][0], cache["blocks.0.hook_resid_mid"][0]
    post0, mid1 = cache["blocks.0.hook_resid_post"][0], cache["blocks.1.hook_resid_mid"][0]
    w_out, b_out = model.W_out[0], model.b_out[0]
    f_mlp, f_mid = mlp_sae.encode(post), resid_sae.encode(mid1)
    for q in range(N_POS):
        # neurons: one part per neuron, b_out, and the residual before the MLP
        want = naive_units(post0[q], post[q], w_out, [b_out, mid0[q]])
        g = groups["blocks.0.mlp.hook_post"]
        assert g.ids[q].tolist() == want[:64].topk(5).indices.tolist()
        assert g.shares[q].tolist() == pytest.approx(want[:64].topk(5).values.tolist(), abs=TOL)
        assert g.acts[q].tolist() == pytest.approx(post[q, g.ids[q]].tolist())
        assert [float(g.parts["bias"][q]), float(g.parts["rest"][q])] == pytest.approx(want[64:].tolist(), abs=TOL)
        # latents on hook_post: rows through W_out; bias b_dec W_out + b_out; the error; the rest
        err = post[q] - (f_mlp[q] @ mlp_sae.W_dec + mlp_sae.b_dec)
        others = [mlp_sae.b_dec @ w_out + b_out, err @ w_out, mid0[q]]
        want = naive_units(post0[q], f_mlp[q], mlp_sae.W_dec @ w_out, others)
        g = groups["mlp0"]
        assert g.ids[q].tolist() == want[:48].topk(5).indices.tolist()
        assert g.shares[q].tolist() == pytest.approx(want[:48].topk(5).values.tolist(), abs=TOL)
        assert float(g.units[q]) == pytest.approx(float(want[:48].sum()), abs=TOL)
        # latents on a residual state split that state itself
        err = mid1[q] - (f_mid[q] @ resid_sae.W_dec + resid_sae.b_dec)
        want = naive_units(mid1[q], f_mid[q], resid_sae.W_dec, [resid_sae.b_dec, err])
        g = groups["mid1"]
        assert g.block == "resid" and g.level == data.layout.attn_out[1]
        assert g.shares[q].tolist() == pytest.approx(want[:40].topk(5).values.tolist(), abs=TOL)
        assert float(g.parts["error"][q]) == pytest.approx(float(want[41]), abs=TOL)


def test_sparse_units_count_silent_ones() -> None:
    g = torch.Generator().manual_seed(0)
    whole, rows = torch.randn(3, 8, generator=g), torch.randn(50, 8, generator=g)
    coefs = torch.zeros(3, 50)
    coefs[:, [4, 17]] = torch.randn(3, 2, generator=g)
    from featurecard.graph.contributions import unit_contributions

    rest = torch.stack([whole - coefs @ rows])
    dense = unit_contributions(coefs, rows, whole, rest, top_k=2)
    sparse = unit_contributions(coefs[:, [4, 17]], rows[[4, 17]], whole, rest, top_k=2, n_units=50)
    one_at_a_time = unit_contributions(coefs, rows, whole, rest, top_k=2, chunk_elements=1)
    for other in (sparse, one_at_a_time):
        torch.testing.assert_close(dense.units, other.units)
        torch.testing.assert_close(dense.shares, other.shares)
    for q in range(3):
        want = naive_units(whole[q], coefs[q], rows, [rest[0, q]])
        assert float(dense.others[0, q]) == pytest.approx(float(want[-1]), abs=TOL)


def hand_data(heads_q1: tuple[float, float, float, float] = (0.1, 0.02, 0.5, 0.03)) -> ContributionData:
    """One sequential layer, two positions, two heads; every state's shares sum to 1."""
    e = torch.tensor
    return ContributionData(
        tokens=e([1, 2]),
        layout=Layout.of(1, 2, parallel=False, has_mlp=True),
        keep_above=0.01,
        resid=e([[0.5, 0.3], [0.97, 0.4]]),  # into level 1 (after attention), level 2 (after the MLP)
        heads=e([[[0.3, 0.18], [heads_q1[0] + heads_q1[2], heads_q1[1] + heads_q1[3]]]]),
        bias=e([[0.02, 0.05]]),
        mlp=e([[0.03, 0.6]]),
        edge_layer=e([0, 0, 0]),
        edge_query=e([0, 1, 1]),
        edge_key=e([0, 0, 1]),
        edge_share=e([0.48, heads_q1[0] + heads_q1[1], heads_q1[2] + heads_q1[3]]),
        edge_heads=e([[0.3, 0.18], list(heads_q1[:2]), list(heads_q1[2:])]),
    )


def test_thresholded_graph_against_a_hand_built_case() -> None:
    graph = build_graph(hand_data(), threshold=0.04)
    got = {(e.src, e.dst, e.kind): e.weight for e in graph.edges}
    r, a, m = "resid", "attn", "mlp"
    want = {
        # position 0, after attention: residual 0.5 and source 0 (0.48) stay, b_O (0.02) goes
        ((r, 0, 0), (r, 1, 0), "resid"): 0.5 / 0.98,
        ((r, 0, 0), (a, 0, 0), "attn"): 0.48 / 0.98,
        ((a, 0, 0), (r, 1, 0), "attn_out"): 0.48 / 0.98,
        # position 1, after attention: everything stays; the block carries both sources and b_O
        ((r, 0, 1), (r, 1, 1), "resid"): 0.3,
        ((r, 0, 0), (a, 0, 1), "attn"): 0.12,
        ((r, 0, 1), (a, 0, 1), "attn"): 0.53,
        ((a, 0, 1), (r, 1, 1), "attn_out"): 0.70,
        # after the MLP: position 0 keeps only its residual (MLP 0.03 goes), position 1 both
        ((r, 1, 0), (r, 2, 0), "resid"): 1.0,
        ((r, 1, 1), (r, 2, 1), "resid"): 0.4,
        ((r, 1, 1), (m, 0, 1), "mlp_in"): 0.6,
        ((m, 0, 1), (r, 2, 1), "mlp_out"): 0.6,
    }
    assert got.keys() == want.keys()
    for key, w in want.items():
        assert got[key] == pytest.approx(w), key
    heads = {(e.src, e.dst): e.heads for e in graph.edges if e.kind == "attn"}
    assert heads[((r, 0, 0), (a, 0, 0))] == pytest.approx((0.3 / 0.98, 0.18 / 0.98))
    # routes back from each target's last state
    assert {(e.src, e.dst) for e in graph.routes(0)} == {
        ((r, 1, 0), (r, 2, 0)), ((r, 0, 0), (r, 1, 0)), ((r, 0, 0), (a, 0, 0)), ((a, 0, 0), (r, 1, 0))
    }  # fmt: skip
    assert len(graph.routes(1)) == 7  # everything into position 1, through both sources
    # a higher threshold drops source 0 of position 1 (0.12) and b_O, and renormalises the rest
    high = {(e.src, e.dst, e.kind): e.weight for e in build_graph(hand_data(), 0.2).edges}
    assert ((r, 0, 0), (a, 0, 1), "attn") not in high
    assert high[((r, 0, 1), (a, 0, 1), "attn")] == pytest.approx(0.53 / 0.83)
    assert high[((a, 0, 1), (r, 1, 1), "attn_out")] == pytest.approx(0.53 / 0.83)
    assert {(e.src, e.dst) for e in build_graph(hand_data(), 0.2).routes(1)} >= {((r, 0, 1), (a, 0, 1))}


def test_threshold_and_target_ranges() -> None:
    with pytest.raises(ValueError, match=r"threshold 0.005 is out of range: accepted \[0.01, 1\)"):
        build_graph(hand_data(), 0.005)
    with pytest.raises(IndexError, match=r"target 2 is out of range: accepted 0 .. 1"):
        build_graph(hand_data(), 0.04).routes(2)


def test_a_prompt_longer_than_the_context_is_refused(model: Any, tok: Any) -> None:
    too_long = tiny.random_tokens(tok, batch=1, pos=33)[0]
    with pytest.raises(ValueError, match=r"the prompt has 33 tokens; the model's context is n_ctx=32"):
        contributions(ModelAdapter(model), too_long)
    with pytest.raises(ValueError, match=r"token ids span \[1, 5000\]"):
        contributions(ModelAdapter(model), [1, 5000])
    with pytest.raises(TypeError, match="prompt must be a string"):
        contributions(ModelAdapter(model), 3.5)  # type: ignore[arg-type]


def test_architectures(tok: Any, prompt: torch.Tensor) -> None:
    # parallel attention + MLP (HookedTransformer): one state per layer with every part in it
    if HOOKED:
        par = tiny.hooked_transformer(tok, parallel_attn_mlp=True)
        data = contributions(ModelAdapter(par), prompt, options=GraphOptions(keep_above=0.0))
        assert data.layout.levels == ("embed", "0.attn+mlp", "1.attn+mlp")
        total = data.heads.sum(-1) + data.bias + data.mlp + data.resid
        torch.testing.assert_close(total, torch.ones(2, N_POS))
        assert {u.level for u in data.units} == {1, 2}  # neurons still split, against resid_post
    gqa = tiny.bridge(tok, n_key_value_heads=1, normalization_type="RMS")
    data = contributions(ModelAdapter(gqa), prompt, options=GraphOptions(keep_above=0.0))
    torch.testing.assert_close(data.heads[0].sum(-1) + data.bias[0] + data.resid[0], torch.ones(N_POS))
    with pytest.raises(ArchitectureError, match="use_normalization_before_and_after"):
        BlockModel(ModelAdapter(tiny.bridge(tok, use_normalization_before_and_after=True)))


def test_attention_that_is_not_pattern_times_values_is_refused(model: Any, prompt: torch.Tensor) -> None:
    blocks = BlockModel(ModelAdapter(model))
    cache = cache_of(model, prompt)
    pattern = cache["blocks.0.attn.hook_pattern"][0]
    writes = blocks.head_writes(0, cache["blocks.0.attn.hook_v"][0])
    bidirectional = torch.ones_like(pattern) / N_POS  # what a model attending forwards would read
    with pytest.raises(ArchitectureError, match="not pattern · v · W_O"):
        blocks.check_attention(0, bidirectional, writes, cache["blocks.0.hook_attn_out"][0], torch.float32)


def test_chunking_never_holds_the_whole_decomposition() -> None:
    g = torch.Generator().manual_seed(0)
    n, h, d = 40, 3, 16
    pattern = torch.rand(h, n, n, generator=g).tril()
    pattern /= pattern.sum(-1, keepdim=True)
    writes, whole = torch.randn(n, h, d, generator=g), torch.randn(n, d, generator=g)
    others = torch.randn(1, n, d, generator=g)
    peak: list[int] = []
    real = torch.addcmul

    def spy(*a: Any, **k: Any) -> torch.Tensor:
        out = real(*a, **k)
        peak.append(out.numel())
        return out

    torch.addcmul = spy  # type: ignore[assignment]
    try:
        small = attention_contributions(pattern, writes, whole, others, chunk_elements=2 * n * h * d)
    finally:
        torch.addcmul = real  # type: ignore[assignment]
    assert max(peak) <= 2 * n * h * d < n * n * h * d
    big = attention_contributions(pattern, writes, whole, others, chunk_elements=n * n * h * d)
    torch.testing.assert_close(small.heads, big.heads)
    torch.testing.assert_close(small.edge_share, big.edge_share)
