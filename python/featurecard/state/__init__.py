"""Compact, versioned payloads for the front end (no torch here)."""

from .codecs import decode_array, encode_array, payload_nbytes, to_portable
from .schema import SCHEMA_VERSION, ArrayPayload, FeatureCardState

__all__ = [
    "SCHEMA_VERSION",
    "ArrayPayload",
    "FeatureCardState",
    "decode_array",
    "encode_array",
    "payload_nbytes",
    "to_portable",
]
