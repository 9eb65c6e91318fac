"""The prompt view: which latents fire at each token of one prompt, and why they matter."""
