"""The FeatureCard view: the activation index, the card's maths, its payload and its widget."""
