"""anywidget views; no torch, no maths here."""

from .feature_card import FeatureCard

__all__ = ["FeatureCard"]
