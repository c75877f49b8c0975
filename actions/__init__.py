"""rasa_sdk actions: thin orchestration over the clients in bot/ and kb_index/.

The action server imports every module in this package and registers each concrete
``Action`` subclass. Clients are built once per process (bot.services); blocking work
(embedding, SQL) runs in the default executor so one slow action never stalls the others.
Serve them with ``python -m actions.server`` (actions/server.py), which answers only
callers holding the shared secret.
"""

import os

if os.environ.get("SUPPORTBOT_WARM_UP") == "1":
    # Started by `python -m bot run`: load settings, model, index and ticket store now, so
    # a broken file stops start-up with its name and the first customer waits for nothing.
    from bot.services import get_services

    _services = get_services()
    _services.check()
    _services.kb.warm_up()
    _ = _services.tickets
