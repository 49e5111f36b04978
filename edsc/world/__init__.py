"""SynthFace: the procedural face world with exact attribute ground truth (a tool, not a runtime service)."""
