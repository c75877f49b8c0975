"""``python -m bot``: the same commands as the ``supportbot`` script."""

from bot.cli import main

raise SystemExit(main())
