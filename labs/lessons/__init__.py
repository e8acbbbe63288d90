"""Helpers for the lesson notebooks: what they draw and the servers they start."""
