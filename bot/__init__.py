"""Polyglot Support Bot: the parts Rasa lacks (language, KB, hours, tickets, channels)."""

__version__ = "0.1.0"
