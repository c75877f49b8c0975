"""``bot validate``: Rasa's data validation plus the checks Rasa has no notion of.

Our checks (each finding names ``file:line`` and the fix):

* every file under data/, domain.yml and config.yml is valid YAML;
* every intent has examples in every supported language, unless it is listed in
  ``validation.translated_intents`` (then the default language suffices: the others
  reach it through translation) or ``validation.button_only_intents`` (never typed);
* no example appears under two intents (compared :func:`~bot.editor.nludata.normalise`-d,
  across languages: the pipeline is multilingual);
* NLU intents are declared in domain.yml, and vice versa;
* every response has a variation for every supported language (conditional on the
  ``language`` slot; the unconditioned one is the default language), and no variation is
  for a language the bot does not support;
* every knowledge-base article parses (front matter, a body per language: reusing
  :mod:`kb_index.articles`' errors), ids are unique and the intents it lists exist.

Then Rasa's own validator (``rasa data validate``) runs in the Rasa environment; its
errors fail validation, its warnings are shown.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.editor.nludata import (
    Domain,
    Example,
    NLUData,
    YamlProblem,
    compose,
    load_domain,
    load_nlu,
)
from bot.editor.problems import Problem, where
from bot.errors import ConfigError
from bot.settings import PROJECT_ROOT, Settings
from kb_index.articles import article_files, parse_article

Say = Callable[[str], None]

LANGUAGE_NAMES = {
    "en": "English",
    "ar": "Arabic",
    "sl": "Slovenian",
    "de": "German",
    "hr": "Croatian",
    "it": "Italian",
    "fr": "French",
    "es": "Spanish",
}


def language_name(code: str) -> str:
    return f"{LANGUAGE_NAMES[code]} ({code})" if code in LANGUAGE_NAMES else code


#: Rasa's naming convention for intents triggered by external events (``trigger_intent``).
EXTERNAL_PREFIX = "EXTERNAL_"
#: Keys of supportbot.yml's optional ``validation:`` section (lists of names).
VALIDATION_KEYS = ("translated_intents", "button_only_intents", "monolingual_responses")


@dataclass(frozen=True)
class Project:
    """Where the editors' files are; tests point it at a small copy."""

    root: Path
    languages: tuple[str, ...]
    default_language: str
    kb_articles: Path
    translated_intents: frozenset[str] = frozenset()
    button_only_intents: frozenset[str] = frozenset()
    monolingual_responses: frozenset[str] = frozenset()
    rasa_python: Path = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"

    @property
    def domain(self) -> Path:
        return self.root / "domain.yml"

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def nlu_dir(self) -> Path:
        return self.root / "data" / "nlu"

    @property
    def data_dirs(self) -> list[Path]:
        return [self.root / "data" / d for d in ("nlu", "rules", "stories")]

    @classmethod
    def from_settings(cls, settings: Settings, root: Path | None = None) -> Project:
        """Languages from ``languages:``, exemptions from the optional ``validation:``."""
        langs = settings.section("languages")
        supported = langs.require("supported")
        if not isinstance(supported, list) or not supported:
            raise langs.error("supported", "must be a non-empty list of language codes")
        section = settings.section("validation", required=False)

        def names(key: str) -> frozenset[str]:
            value = section.get(key, [])
            if not isinstance(value, list) or not all(
                isinstance(v, str) for v in value
            ):
                raise section.error(
                    key,
                    f"must be a list of names, got {value!r}",
                    f"write '{key}: [intent_a, intent_b]'",
                )
            return frozenset(value)

        for key in section.data:
            if key not in VALIDATION_KEYS:
                raise section.error(
                    str(key),
                    "unknown key",
                    f"use one of: {', '.join(VALIDATION_KEYS)}",
                )
        kb = settings.section("knowledge_base")
        return cls(
            root=root or settings.base_dir,
            languages=tuple(str(x) for x in supported),
            default_language=str(langs.get("default", supported[0])),
            kb_articles=kb.path("articles", "data/kb"),
            translated_intents=names("translated_intents"),
            button_only_intents=names("button_only_intents"),
            monolingual_responses=names("monolingual_responses"),
        )


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]


# --- the checks (pure over parsed data) ------------------------------------------------


def check_yaml(files: Sequence[Path]) -> list[Problem]:
    out = []
    for path in files:
        try:
            compose(path)
        except YamlProblem as exc:
            out.append(exc.problem)
    return out


def check_coverage(nlu: NLUData, project: Project) -> list[Problem]:
    """Every intent has examples in every supported language (or is exempt)."""
    out = []
    by_intent: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for block in nlu.blocks:
        by_intent[block.intent][block.language].append(block)
    for intent in sorted(by_intent):
        have = {
            lang
            for lang, blocks in by_intent[intent].items()
            if any(b.examples for b in blocks)
        }
        needed = (
            {project.default_language}
            if intent in project.translated_intents
            else set(project.languages)
        )
        first = min(
            (b for bs in by_intent[intent].values() for b in bs),
            key=lambda b: (str(b.file), b.line),
        )
        for lang in sorted(needed - have):
            sibling = project.nlu_dir / lang / first.file.name
            out.append(
                Problem(
                    where(first.file, first.line),
                    f"intent '{intent}' has no {language_name(lang)} examples",
                    f"add '- intent: {intent}' with examples to "
                    f"{where(sibling)}, or list it under validation.translated_intents "
                    "in supportbot.yml if it is answered through translation",
                )
            )
    return out


def check_duplicates(nlu: NLUData) -> list[Problem]:
    """An example (normalised) under two intents, anywhere; twice in one intent warns."""
    out = []
    first_anywhere: dict[str, Example] = {}
    first_in_language: dict[tuple[str, str], Example] = {}
    for ex in nlu.examples:
        key = ex.key
        if not key:
            continue
        anywhere = first_anywhere.setdefault(key, ex)
        here = first_in_language.setdefault((ex.language, key), ex)
        if here is not ex:
            other = here
        elif anywhere is not ex and anywhere.intent != ex.intent:
            other = anywhere
        else:
            continue  # new, or "5" as a rating in en and sl under one intent: fine
        if other.intent != ex.intent:
            out.append(
                Problem(
                    where(ex.file, ex.line),
                    f"example {ex.text!r} is under intent '{ex.intent}' and also under "
                    f"'{other.intent}' at {where(other.file, other.line)}",
                    "keep it under the one intent it means and delete the other line",
                )
            )
        else:
            out.append(
                Problem(
                    where(ex.file, ex.line),
                    f"example {ex.text!r} repeats {where(other.file, other.line)} "
                    f"(intent '{ex.intent}')",
                    "delete one of the two lines",
                    warning=True,
                )
            )
    return out


def check_domain_intents(
    nlu: NLUData, domain: Domain, project: Project
) -> list[Problem]:
    out = []
    reported: set[str] = set()
    for block in nlu.blocks:
        if block.intent not in domain.intents and block.intent not in reported:
            reported.add(block.intent)
            out.append(
                Problem(
                    where(block.file, block.line),
                    f"intent '{block.intent}' is not declared in domain.yml",
                    f"add '  - {block.intent}' under 'intents:' in {where(domain.file)} "
                    "(or fix the spelling here)",
                )
            )
    with_examples = nlu.intents()
    for intent, line in domain.intents.items():
        if intent.startswith(EXTERNAL_PREFIX):
            continue  # Rasa's convention: sent by the bot's own code, never typed
        if intent not in with_examples and intent not in project.button_only_intents:
            out.append(
                Problem(
                    where(domain.file, line),
                    f"intent '{intent}' has no examples in data/nlu",
                    "add examples, or list it under validation.button_only_intents in "
                    "supportbot.yml if only buttons send it",
                )
            )
    return out


def check_responses(domain: Domain, project: Project) -> list[Problem]:
    out = []
    supported = set(project.languages)
    for response in domain.responses:
        if response.name in project.monolingual_responses:
            continue
        have = {lang or project.default_language for lang in response.languages}
        for lang in sorted(supported - have):
            fix = (
                f"add a variation with 'condition: [{{type: slot, name: language, "
                f"value: {lang}}}]' and the {language_name(lang)} text"
            )
            if lang == project.default_language and "" not in response.languages:
                fix = f"add a variation without condition, in {language_name(lang)}"
            out.append(
                Problem(
                    where(domain.file, response.line),
                    f"response '{response.name}' has no {language_name(lang)} variation",
                    fix,
                )
            )
        for lang, line in response.languages.items():
            if lang and lang not in supported:
                out.append(
                    Problem(
                        where(domain.file, line),
                        f"response '{response.name}' has a variation for '{lang}', which is "
                        f"not a supported language ({', '.join(project.languages)})",
                        "fix the language code, or add it to languages.supported in "
                        "supportbot.yml together with its data/nlu folder",
                    )
                )
    return out


def check_languages_folders(project: Project) -> list[Problem]:
    out = []
    if project.nlu_dir.is_dir():
        for sub in sorted(p for p in project.nlu_dir.iterdir() if p.is_dir()):
            if sub.name not in project.languages:
                out.append(
                    Problem(
                        where(sub),
                        f"NLU folder for '{sub.name}', which is not a supported "
                        "language: its examples would train the bot without it answering "
                        "in that language",
                        "add it to languages.supported in supportbot.yml or move the folder",
                    )
                )
    return out


def check_articles(project: Project, domain: Domain | None) -> list[Problem]:
    """Every article file parses; errors of all files are collected, not just the first."""
    try:
        files = article_files(project.kb_articles)
    except ConfigError as exc:
        return [Problem(exc.file, exc.problem, exc.fix)]
    out = []
    seen: dict[str, Path] = {}
    for path in files:
        try:
            article = parse_article(path, project.languages)
        except ConfigError as exc:
            key = f"{exc.key}: " if exc.key else ""
            out.append(Problem(_short_where(exc.file), key + exc.problem, exc.fix))
            continue
        if article.id in seen:
            out.append(
                Problem(
                    where(path, 2),
                    f"duplicate article id {article.id!r}, "
                    f"already used by {where(seen[article.id])}",
                    "ids are unique: rename one file and its id",
                )
            )
        seen[article.id] = path
        if domain is not None:
            for intent in article.intents:
                if intent not in domain.intents:
                    out.append(
                        Problem(
                            _intents_line(path),
                            f"article '{article.id}' lists intent "
                            f"'{intent}', which is not in domain.yml",
                            "fix the spelling or remove it from 'intents:'",
                        )
                    )
    return out


def _short_where(file_and_line: str) -> str:
    path, sep, line = file_and_line.rpartition(":")
    if sep and line.isdigit():
        return where(path, int(line))
    return where(file_and_line)


def _intents_line(path: Path) -> str:
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if line.startswith("intents:"):
            return where(path, number)
    return where(path)


# --- Rasa's validator ------------------------------------------------------------------

_WARNING = re.compile(r"UserWarning: (?P<text>.*)")
_LOGGED = re.compile(r"\b(?P<level>WARNING|ERROR)\s+rasa\.validator\s+-\s+(?P<text>.*)")
_ERROR = re.compile(
    r"\b(ERROR|YamlValidationException|InvalidDomain|Exception)\b[: ]+(?P<text>.*)"
)


def run_rasa_validator(project: Project) -> list[Problem]:
    """``rasa data validate`` in the Rasa environment; errors fail, warnings are shown."""
    cmd = [
        str(project.rasa_python),
        "-m",
        "rasa",
        "data",
        "validate",
        "--domain",
        str(project.domain),
        "--config",
        str(project.config),
        "--data",
        *[str(d) for d in project.data_dirs if d.exists()],
    ]
    env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(PROJECT_ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "NO_COLOR": "1",
    }
    try:
        done = subprocess.run(
            cmd, cwd=project.root, capture_output=True, text=True, timeout=600, env=env
        )
    except FileNotFoundError:
        return [
            Problem(
                str(project.rasa_python),
                "the Rasa environment is missing",
                "run `make setup`",
            )
        ]
    return parse_rasa_output(done.stdout + done.stderr, done.returncode)


def parse_rasa_output(output: str, returncode: int) -> list[Problem]:
    """Rasa's validator messages as problems (pure: tested on recorded output).

    Rasa exits 0 on story structure conflicts unless asked to fail on warnings, but two
    stories that predict different actions after the same turns train a policy that
    contradicts itself: we count those as errors. Other warnings stay warnings.
    """
    clean = re.sub(r"\x1b\[[0-9;]*m", "", output)
    lines = clean.splitlines()
    out: list[Problem] = []
    seen: set[str] = set()
    for number, line in enumerate(lines):
        text, error = None, False
        if m := _WARNING.search(line):
            text = m.group("text").strip()
        elif m := _LOGGED.search(line):
            text, error = m.group("text").strip(), m.group("level") == "ERROR"
            following = []
            for more in lines[number + 1 :]:
                if not more.startswith("  ") or _LOGGED.search(more):
                    break
                following.append(more.strip())
            if following:
                text += " " + "; ".join(following)
            error = error or "conflict" in text.lower()
        if text and text not in seen:
            seen.add(text)
            out.append(
                Problem(
                    "rasa data validate",
                    text,
                    "make the stories/rules agree (or remove one)" if error else "",
                    warning=not error,
                )
            )
    if returncode != 0 and not any(not p.warning for p in out):
        errors = [
            m.group("text").strip()
            for line in lines
            if (m := _ERROR.search(line)) and "Warning" not in line
        ]
        tail = [ln for ln in lines if ln.strip()][-3:]
        message = "; ".join(dict.fromkeys(errors)) or " / ".join(tail) or "failed"
        out.append(
            Problem(
                "rasa data validate",
                f"Rasa's validator failed: {message}",
                "fix the problem it names, then run `bot validate` again",
            )
        )
    return out


# --- the command -----------------------------------------------------------------------


def validate(project: Project, *, rasa: bool = True, say: Say = print) -> Report:
    """Run every check; ``say`` receives one progress line per step."""
    report = Report()
    yaml_files = [project.domain, project.config] + [
        p for d in project.data_dirs if d.is_dir() for p in sorted(d.rglob("*.y*ml"))
    ]
    say(f"checking YAML syntax of {len(yaml_files)} files ...")
    yaml_problems = check_yaml([p for p in yaml_files if p.exists()])
    for missing in (p for p in (project.domain, project.config) if not p.exists()):
        yaml_problems.append(Problem(where(missing), "file not found"))
    report.problems += yaml_problems
    domain: Domain | None = None
    if yaml_problems:
        # A broken file reads as "no examples" to the checks below: they would only
        # repeat the YAML error in misleading words.
        say("skipping the NLU and domain checks until the YAML errors are fixed")
    else:
        say("checking NLU examples: languages, duplicates, intents ...")
        nlu = load_nlu(project.nlu_dir)
        report.problems += nlu.problems
        report.problems += check_languages_folders(project)
        report.problems += check_coverage(nlu, project)
        report.problems += check_duplicates(nlu)
        say("checking domain.yml: intents and responses per language ...")
        domain = load_domain(project.domain)
        report.problems += check_domain_intents(nlu, domain, project)
        report.problems += check_responses(domain, project)
    say(f"checking knowledge-base articles in {where(project.kb_articles)} ...")
    report.problems += check_articles(project, domain)
    if rasa and not yaml_problems:
        say("running Rasa's validator (rasa data validate, ~15 s) ...")
        report.problems += run_rasa_validator(project)
    elif rasa:
        say("skipping Rasa's validator until the YAML errors above are fixed")
    return report


def print_report(
    report: Report, say: Say = print, *, show_warnings: bool = True
) -> None:
    if show_warnings:
        for p in report.warnings:
            say(p.render())
    for p in report.errors:
        say(p.render())
    n_err, n_warn = len(report.errors), len(report.warnings)
    if n_err:
        say(
            f"\n{n_err} error(s), {n_warn} warning(s): fix the errors above and run "
            "`python -m bot validate` again."
        )
    else:
        say(f"\nvalid: no errors ({n_warn} warning(s)).")


def main_validate(project: Project, *, rasa: bool, quiet_warnings: bool) -> int:
    def say(line: str) -> None:
        print(line, flush=True)

    report = validate(project, rasa=rasa, say=say)
    print_report(report, say, show_warnings=not quiet_warnings)
    return 1 if report.errors else 0
