"""Rasa input/output channels, one module per channel (named in credentials.yml)."""
