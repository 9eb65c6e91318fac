"""The NodeTable as a pandas DataFrame (``NodeTable.to_dataframe``), read from the table's own
payload, so the frame holds exactly the rows and numbers the widget shows. No torch here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..core.codecs import decode_array
from ..core.frames import pandas
from .payload import NodeTableState

if TYPE_CHECKING:
    from pandas import DataFrame

KEY_COLUMNS = ("family", "kind", "layer", "unit", "position", "source", "token")


def value_column(group: str, label: str, n_prompts: int) -> str:
    """A value column's name: the group's (``direct_effect``), or ``direct_effect (Left)`` when
    the table compares two prompts."""
    return group if n_prompts == 1 else f"{group} ({label})"


def node_frame(state: NodeTableState) -> DataFrame:
    """One row per node of ``state``, in the payload's order (see ``NodeTable.to_dataframe``)."""
    pd = pandas("NodeTable.to_dataframe")
    rows = state["rows"]
    fam = {f["code"]: f for f in state["families"]}
    codes = decode_array(rows["family"]).tolist()
    pos = decode_array(rows["pos"]).astype(np.int64)
    src = decode_array(rows["src"]).astype(np.int64)
    vocab = state["vocab"]
    prompt0 = decode_array(state["prompts"][0]["tokens"])
    cols: dict[str, object] = {
        "family": [fam[c]["name"] for c in codes],
        "kind": [fam[c]["kind"] for c in codes],
        "layer": decode_array(rows["layer"]).astype(np.int64),
        "unit": decode_array(rows["unit"]).astype(np.int64),
        "position": pos,
        "source": pd.array([int(s) if s >= 0 else None for s in src], dtype="Int64"),
        "token": [vocab[int(prompt0[p])] for p in pos],
    }
    values = decode_array(rows["values"]).astype(np.float64)  # [n_prompts, n_groups, n]
    n_prompts = len(state["prompts"])
    for b, prompt in enumerate(state["prompts"]):
        for g, group in enumerate(state["groups"]):
            cols[value_column(group["name"], prompt["label"], n_prompts)] = values[b, g]
    return pd.DataFrame(cols)
