"""Tickets: the durable record of an escalated conversation."""
