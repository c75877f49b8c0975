"""rasa_sdk actions: thin orchestration over the clients in bot/ and kb_index/.

The action server imports every module in this package and registers each concrete
``Action`` subclass. Clients are built once per process (bot.services); blocking work
(embedding, SQL) runs in the default executor so one slow action never stalls the others.
"""
