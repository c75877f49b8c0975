"""The editors' commands: ``validate``, ``train``, ``evaluate``, ``review``, ``reload``.

``python -m bot validate [--no-rasa]``
``python -m bot train [--force] [--only rasa|kb]``
``python -m bot evaluate [--gate] [--no-kb] [--epochs N]`` / ``evaluate --accept [DIR]``
``python -m bot review [--language sl] [--limit N] [--json]``
``python -m bot review label [--text T --intent X] [--language sl] [--file F]``
``python -m bot review attach --text T --article ID --language sl``
``python -m bot reload [--model FILE]``

Exit status: 0 good, 1 the answer is "no" (invalid data, quality gate failed, model
rolled back), 2 bad arguments or settings (see :mod:`bot.cli`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.editor import evaluate as ev
from bot.editor import review as rv
from bot.editor.problems import display_path
from bot.editor.validate import Project
from bot.errors import SupportBotError
from bot.settings import Settings, load_settings


def say(line: str) -> None:
    print(line, flush=True)


def _project(args: argparse.Namespace) -> tuple[Settings, Project]:
    settings = load_settings(args.config)
    return settings, Project.from_settings(settings)


def add_parser(subparsers: Any) -> None:
    """Register the editors' top-level commands."""
    v = subparsers.add_parser(
        "validate", help="check data/, domain.yml and data/kb (file:line, the fix)"
    )
    v.add_argument(
        "--no-rasa",
        action="store_true",
        help="only our own checks (skip Rasa's validator, ~15 s)",
    )
    v.add_argument("--no-warnings", action="store_true", help="show errors only")
    v.set_defaults(func=cmd_validate)

    t = subparsers.add_parser(
        "train", help="retrain what changed: Rasa model and/or KB index"
    )
    t.add_argument(
        "--force", action="store_true", help="retrain even if nothing changed"
    )
    t.add_argument("--only", choices=("rasa", "kb"), help="train just one of the two")
    t.add_argument(
        "--skip-validate", action="store_true", help="do not run our own checks first"
    )
    t.set_defaults(func=cmd_train)

    e = subparsers.add_parser(
        "evaluate",
        help="per-language accuracy, F1, confusions, KB recall; quality gate",
    )
    e.add_argument(
        "--gate",
        action="store_true",
        help="exit 1 if a language fell more than evaluation.margin below "
        "the accepted report",
    )
    e.add_argument(
        "--accept",
        nargs="?",
        const="latest",
        metavar="REPORT_DIR",
        help="make the newest (or the given) report the accepted one; "
        "evaluates nothing",
    )
    e.add_argument("--no-kb", action="store_true", help="skip KB recall")
    e.add_argument("--epochs", type=int, help="override DIET's epochs (quick look)")
    e.set_defaults(func=cmd_evaluate)

    r = subparsers.add_parser(
        "review", help="customer messages the bot misunderstood; label them"
    )
    r.set_defaults(func=cmd_review, help_parser=r)
    r.add_argument(
        "--tracker",
        help="tracker store: SQLite file or postgresql:// URL "
        "(default: $TRACKER_DB or var/tracker.sqlite3)",
    )
    r.add_argument("--language", help="only this language")
    r.add_argument(
        "--limit", type=int, default=50, help="at most this many (default 50)"
    )
    r.add_argument("--json", action="store_true", help="one JSON object per line")
    sub = r.add_subparsers(title="review commands", metavar="COMMAND")
    lab = sub.add_parser("label", help="add a message as a training example")
    lab.add_argument(
        "--text", help="the customer's message (omit to go through the list)"
    )
    lab.add_argument("--intent", help="the intent it means")
    lab.add_argument(
        "--language",
        dest="label_language",
        help="its language (default: what the bot detected)",
    )
    lab.add_argument(
        "--file",
        type=Path,
        help="NLU file to add it to (default: where the intent's examples are)",
    )
    lab.add_argument("--tracker", dest="label_tracker", help=argparse.SUPPRESS)
    lab.set_defaults(func=cmd_label)
    att = sub.add_parser(
        "attach", help="make a question a front-matter question of the KB article it "
        "should have found"
    )
    att.add_argument("--text", required=True, help="the customer's question")
    att.add_argument("--article", required=True, help="id of the right article")
    att.add_argument("--language", dest="attach_language", required=True,
                     help="the question's language (any code, e.g. sl or de)")
    att.set_defaults(func=cmd_attach)

    ld = subparsers.add_parser(
        "reload", help="switch the running bot to the newly trained model"
    )
    ld.add_argument(
        "--model", type=Path, help="model file (default: newest in models/rasa)"
    )
    ld.add_argument("--url", help="Rasa server (default: $SUPPORTBOT_RASA_URL)")
    ld.add_argument("--token", help="Rasa API token (default: $SUPPORTBOT_RASA_TOKEN)")
    ld.set_defaults(func=cmd_reload)


# --- handlers --------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from bot.editor.validate import print_report, validate

    _, project = _project(args)
    report = validate(project, rasa=not args.no_rasa, say=say)
    print_report(report, say, show_warnings=not args.no_warnings)
    return 1 if report.errors else 0


def cmd_train(args: argparse.Namespace) -> int:
    from bot.editor import train as tr
    from bot.editor.validate import print_report, validate

    settings, project = _project(args)
    if not args.skip_validate:
        report = validate(project, rasa=False, say=lambda line: None)
        if report.errors:
            print_report(report, say, show_warnings=False)
            say("not training: fix the errors above first")
            return 1
    steps = []
    if args.only in (None, "rasa"):
        rasa = tr.RasaProject(root=project.root, out=project.root / "models" / "rasa")
        steps.append(tr.train_rasa(rasa, force=args.force, say=say))
        say(tr.report_line(steps[-1]))
    if args.only in (None, "kb"):
        from kb_index.retriever import KBSettings

        steps.append(
            tr.train_kb(KBSettings.from_settings(settings), force=args.force, say=say)
        )
        say(tr.report_line(steps[-1]))
    if any(s.trained for s in steps):
        say(
            "next: `python -m bot evaluate` to compare, `python -m bot reload` to serve it"
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    settings, project = _project(args)
    evaluation = ev.EvaluationSettings.from_settings(settings)
    if args.accept:
        folder = None if args.accept == "latest" else Path(args.accept)
        source = ev.accept(evaluation, folder)
        say(
            f"accepted {display_path(source)} as "
            f"{display_path(evaluation.reports / ev.ACCEPTED)}; commit it"
        )
        return 0
    if args.epochs is not None and args.epochs < 1:
        say("supportbot: error: --epochs must be 1 or more")
        return 2
    report = ev.evaluate_project(
        project,
        settings,
        evaluation,
        epochs=args.epochs,
        with_kb=not args.no_kb,
        say=say,
    )
    folder, regressions = ev.write_report(report, evaluation, project, say=say)
    for line in ev.summary_lines(report):
        say(line)
    say(f"report: {display_path(folder / 'report.md')}")
    if report["comparison"]["accepted"] is None:
        say(
            "no accepted report to compare with: `python -m bot evaluate --accept` "
            "makes this one the baseline"
        )
        return 1 if args.gate else 0
    if regressions:
        say("quality gate FAILED:" if args.gate else "worse than the accepted report:")
        for line in regressions:
            say(f"  {line}")
        return 1 if args.gate else 0
    say(
        f"quality gate passed (no language fell more than {evaluation.margin:.1%} "
        f"below the accepted report of {report['comparison']['accepted']})"
    )
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    settings, _ = _project(args)
    groups = rv.load_review(
        rv.tracker_location(args.tracker),
        rv.low_confidence_setting(settings),
        language=args.language,
    )
    shown = groups[: max(1, args.limit)]
    if args.json:
        for g in shown:
            print(json.dumps(g.to_json(), ensure_ascii=False))
        return 0
    sys.stdout.write(rv.format_groups(shown))
    if groups:
        say(
            f"{len(groups)} group(s) of misunderstood messages"
            + (f", {len(shown)} shown" if len(shown) < len(groups) else "")
            + "; label one: python -m bot review label --text '...' --intent INTENT"
        )
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    """``review attach``: a misunderstood question becomes a question of its article."""
    _, project = _project(args)
    done = rv.attach_question(
        project.kb_articles, project.languages, args.article, args.attach_language,
        args.text,
    )
    say(
        f"attached to {done.article} ({done.language}, {done.questions} question(s)): "
        f"{display_path(done.file)}  - {' '.join(args.text.split())}"
    )
    say("next: `python -m kb_index build` (or `python -m bot train`)")
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    settings, project = _project(args)
    if args.text:
        if not args.intent:
            say("supportbot: error: --intent is required with --text")
            return 2
        language = args.label_language or _detected_language(args, settings, args.text)
        return _label_one(project, args.text, args.intent, language, args.file)
    return _label_interactive(args, settings, project)


def _detected_language(args: argparse.Namespace, settings: Settings, text: str) -> str:
    """The language the bot detected for this text in the tracker store, else detect it."""
    from bot.editor.nludata import normalise

    location = rv.tracker_location(args.label_tracker or args.tracker)
    try:
        for g in rv.load_review(location, 1.01):
            if g.key == normalise(text) and g.language:
                return g.language
    except Exception:
        pass
    from bot.language import LanguageDetector, LanguageSettings

    langs = LanguageSettings.from_section(settings.section("languages"))
    detection = LanguageDetector(langs.supported, default=langs.default).detect(text)
    if detection.language not in langs.supported:
        raise SupportBotError(f"cannot tell the language of {text!r}; pass --language")
    return str(detection.language)


def _label_one(
    project: Project, text: str, intent: str, language: str, file: Path | None
) -> int:
    done = rv.label(project, text, intent, language, file)
    how = "new intent block" if done.created_block else "example"
    say(
        f"added {how}: {display_path(done.file)}:{done.line}  - {' '.join(text.split())}"
        f"  ({intent}, {language})"
    )
    say("next: `python -m bot train` then `python -m bot reload`")
    return 0


def _label_interactive(
    args: argparse.Namespace, settings: Settings, project: Project
) -> int:
    groups = rv.load_review(
        rv.tracker_location(args.label_tracker or args.tracker),
        rv.low_confidence_setting(settings),
        language=args.language,
    )
    if not groups:
        say("No misunderstood messages to label.")
        return 0
    say("For each message type the intent it means; Enter skips, q stops.")
    added = 0
    for g in groups[: max(1, args.limit)]:
        say(
            f"\n{g.text!r}  [{g.language or '?'}] seen {g.count}x, bot guessed "
            f"{g.intent or '-'} ({g.mean_confidence:.2f})"
        )
        while True:
            try:
                answer = input("intent> ").strip()
            except EOFError:
                answer = "q"
            if answer in ("", "q"):
                break
            language = args.label_language or g.language
            if not language:
                say("unknown language: rerun with --language")
                break
            try:
                _label_one(project, g.text, answer, language, args.file)
                added += 1
                break
            except SupportBotError as exc:
                say(f"not added: {exc}")
        if answer == "q":
            break
    say(f"\n{added} example(s) added")
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    from bot.editor import reload as rl

    _, project = _project(args)
    server = rl.find_server(args.url, args.token)
    model = args.model or rl.newest_model(project.root / "models" / "rasa")
    result = rl.reload_model(server, model, say=say)
    line, code = rl.describe(result)
    say(line)
    say(
        "KB index: the action server switches to a rebuilt index on its next question "
        "(the old one stays if the new one does not load)"
    )
    return code
