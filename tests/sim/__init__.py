"""Deterministic simulation of the Raft-replicated store (see scenario.py)."""
