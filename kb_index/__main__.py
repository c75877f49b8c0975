"""``python -m kb_index build|search``: build the index when data changed, try a query."""

from __future__ import annotations

import argparse
import sys
import time

from bot.errors import SupportBotError
from bot.settings import load_settings
from kb_index.retriever import KBSettings, KnowledgeBase, build_index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kb_index", description=__doc__)
    parser.add_argument("--config", help="settings file (default: supportbot.yml)")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="embed data/kb into the faiss index if it changed")
    b.add_argument("--force", action="store_true", help="rebuild even if up to date")
    s = sub.add_parser("search", help="show the best articles for a question")
    s.add_argument("text")
    s.add_argument("--top", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        settings = KBSettings.from_settings(load_settings(args.config))
        if args.command == "build":
            start = time.perf_counter()
            index, rebuilt = build_index(settings, force=args.force)
            took = time.perf_counter() - start
            state = "built" if rebuilt else "up to date"
            print(
                f"knowledge base index {state}: {len(index.manifest.rows)} vectors, "
                f"{len({r.article_id for r in index.manifest.rows})} articles "
                f"in {settings.index_dir} ({took:.1f} s)"
            )
        else:
            kb = KnowledgeBase(settings)
            for hit in kb.search(args.text, top_k=args.top):
                print(f"{hit.score:.3f}  dense={hit.dense:.3f} lex={hit.lexical:.3f}  "
                      f"{hit.article.id}  {hit.article.title.get(settings.default_language, '')}")
    except SupportBotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
