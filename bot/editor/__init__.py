"""The content editors' loop: validate, train, evaluate (with a quality gate), review, reload.

Editors change YAML and Markdown; these commands tell them, fast and precisely
(``file:line``, what is wrong, the fix), whether the bot got better or worse. Code that
needs Rasa runs in the Rasa environment as a subprocess (:mod:`bot.editor.rasa_worker`);
everything else runs in the action environment that runs the CLI.
"""
