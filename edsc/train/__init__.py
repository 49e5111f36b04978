"""Training pipeline for the built-in model bundle."""
