"""SAE encodings worked out by hand on 2-D inputs, independent of any library."""

from __future__ import annotations

import pytest
import torch

from featurecard.core.sae import SAEError
from featurecard.core.sae_input import as_sae

W_ENC = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 1.0]])  # [d_in=2, d_sae=3]
W_DEC = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]])
B_ENC = torch.tensor([0.0, -1.0, 0.5])
B_DEC = torch.tensor([1.0, 1.0])


def mapping(**kw: object) -> dict[str, object]:
    return {"W_enc": W_ENC, "b_enc": B_ENC, "W_dec": W_DEC, "b_dec": B_DEC, "hook_name": "h", **kw}


def test_standard_relu_by_hand() -> None:
    # x - b_dec = (2, 1); pre = (2, 2 - 1, -2 + 1 + 0.5) = (2, 1, -0.5); relu -> (2, 1, 0)
    out = as_sae(mapping()).encode(torch.tensor([3.0, 2.0]))
    torch.testing.assert_close(out, torch.tensor([2.0, 1.0, 0.0]))


def test_no_b_dec_on_input_by_hand() -> None:
    # pre = (3, 4 - 1, -3 + 2 + 0.5) = (3, 3, -0.5)
    out = as_sae(mapping(apply_b_dec_to_input=False)).encode(torch.tensor([3.0, 2.0]))
    torch.testing.assert_close(out, torch.tensor([3.0, 3.0, 0.0]))


def test_a_zero_b_dec_is_skipped_and_changes_no_bit() -> None:
    """x - 0 is x to the bit (-0.0, inf and NaN too): the SAE skips that copy; a nonzero b_dec is
    still subtracted (pre = (2, 1, -0.5) from x - b_dec = (2, 1))."""
    x = torch.tensor([[3.0, -0.0], [float("inf"), float("nan")], [1e-38, -7.25]])
    zero = as_sae(mapping(b_dec=torch.zeros(2)))
    assert torch.equal(zero.preprocess(x)[[0, 2]], (x - torch.zeros(2))[[0, 2]])
    assert torch.signbit(zero.preprocess(x)[0, 1]) and torch.isnan(zero.preprocess(x)[1, 1])
    torch.testing.assert_close(zero.encode(torch.tensor([2.0, 1.0])), torch.tensor([2.0, 1.0, 0.0]))
    torch.testing.assert_close(as_sae(mapping()).encode(torch.tensor([3.0, 2.0])), torch.tensor([2.0, 1.0, 0.0]))


def test_topk_by_hand() -> None:
    # pre = (2, 1, -0.5); k=1 keeps latent 0
    out = as_sae(mapping(k=1)).encode(torch.tensor([3.0, 2.0]))
    torch.testing.assert_close(out, torch.tensor([2.0, 0.0, 0.0]))


def test_topk_rescaled_by_decoder_norm_by_hand() -> None:
    # ||W_dec rows|| = (1, 1, 5); pre = (2, 1, -0.5) * norms = (2, 1, -2.5); k=2 -> (2, 1, 0)
    sae = as_sae(mapping(k=2, rescale_acts_by_decoder_norm=True))
    torch.testing.assert_close(sae.encode(torch.tensor([3.0, 2.0])), torch.tensor([2.0, 1.0, 0.0]))
    # decode divides by the norms: (2, 1, 0) -> 2*(1,0) + 1*(0,1) + b_dec = (3, 2)
    torch.testing.assert_close(sae.decode(torch.tensor([2.0, 1.0, 0.0])), torch.tensor([3.0, 2.0]))


def test_jumprelu_by_hand() -> None:
    # pre = (2, 1, -0.5); threshold (2.5, 0.5, 0): latent 0 is below its threshold
    out = as_sae(mapping(threshold=torch.tensor([2.5, 0.5, 0.0]))).encode(torch.tensor([3.0, 2.0]))
    torch.testing.assert_close(out, torch.tensor([0.0, 1.0, 0.0]))


def test_bad_inputs_name_the_value_and_the_range() -> None:
    with pytest.raises(SAEError, match=r"W_dec has shape \(3, 3\).*must be \(3, 2\)"):
        as_sae(mapping(W_dec=torch.zeros(3, 3)))
    with pytest.raises(SAEError, match=r"k in \[1, 3\]; got k=9"):
        as_sae(mapping(k=9))
    with pytest.raises(SAEError, match="lacks"):
        as_sae({"W_enc": W_ENC})
    with pytest.raises(SAEError, match="hook name"):
        as_sae(mapping(hook_name=None))
    with pytest.raises(SAEError, match="accepted"):
        as_sae(42)
    with pytest.raises(SAEError, match="not a SAELens folder"):
        as_sae("/nonexistent/folder")
