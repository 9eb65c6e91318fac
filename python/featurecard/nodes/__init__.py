"""The NodeTable view: node scalars and attributions, ablations, payload, session, widget."""
