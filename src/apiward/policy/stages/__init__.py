"""Typed configuration of each gateway stage, one module per stage, keyed by the stage's name."""
