"""The agent inbox: a small server-rendered web app on the ticket store.

Agents log in, read tickets of the queues they belong to (transcript, translation into
their language, intents, KB articles), take a ticket (which pauses the bot for that
conversation through Rasa's HTTP API), reply through the customer's channel, and resolve
(which resumes the bot and asks the customer for a one-question CSAT).
"""
