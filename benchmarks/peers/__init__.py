"""Peer benchmarks: sae-vis and SAEDashboard, each run in its own venv (see ``common.py``).

Nothing in this folder is part of featurecard, and featurecard never imports the peers.
"""
