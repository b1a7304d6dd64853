"""Experiments at scale: run folders keyed by config hash, sweep jobs, resume, and comparison."""
