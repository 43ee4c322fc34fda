"""Typed domain state, below every other layer (see job_state.py)."""
