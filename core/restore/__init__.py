"""Restore: plans from a snapshot and the live tenant, approved by a second person, run from a journal."""
