"""Limits on user input that more than one service checks (one value each, everywhere)."""

from __future__ import annotations

#: Characters of an instruction (the transmitter's parser and the receiver's stored metadata).
MAX_INSTRUCTION_CHARS = 512
