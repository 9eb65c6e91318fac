"""The SAE overview: every latent of one SAE at a glance (``Workspace.overview``)."""
