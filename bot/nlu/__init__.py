"""Rasa graph components (run inside the Rasa server, Python 3.10)."""
