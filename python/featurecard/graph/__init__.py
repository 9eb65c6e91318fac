"""The ContributionGraph view: one prompt's contributions, the graph and its routes, payload, session, widget."""
