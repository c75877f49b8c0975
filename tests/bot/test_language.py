"""bot.language: detection on short chat messages, the sticky rule, settings (3.11 env).

Sentences here are written for the tests and are in neither the benchmark
(bench/data/lid_eval.tsv) nor the fitting set (bench/data/lid_fit.tsv):
tests/bot/test_language_data.py checks that.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.language import (
    GROUP_CODE,
    HINT_CONFIDENCE,
    MAX_CHARS,
    Detection,
    LanguageDetector,
    LanguageSettings,
    choose_language,
    normalize_code,
)
from bot.settings import Section, load_settings

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = ("en", "ar", "sl")
ALSO = ("hr", "sr", "bs", "de", "it", "fr", "es", "ru", "tr")


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    d = LanguageDetector(SUPPORTED, ALSO, default="en")
    d.warm_up()
    return d


# --- detection ----------------------------------------------------------------------

DETECTS = [
    # English: short, informal, long
    ("en", "Hi, I still haven't received my parcel"),
    ("en", "thanks a lot for the quick help"),
    ("en", "could someone check why my last payment bounced"),
    ("en", "WHY IS MY ACCOUNT LOCKED"),
    # Arabic: decided by script, even one word
    ("ar", "مرحبا، أين طلبي؟"),
    ("ar", "أريد التحدث مع موظف خدمة العملاء"),
    ("ar", "شكرا"),
    ("ar", "\u200fطلبي رقم 1234 لم يصل\u200f"),
    # Slovenian, with and without diacritics
    ("sl", "Pozdravljeni, kdaj bo moj paket prispel?"),
    ("sl", "ne vem kje je moj račun"),
    ("sl", "kje je moje narocilo"),
    ("sl", "Hvala lepa, to je vse"),
    ("sl", "zakaj mi ne deluje prijava"),
    # Croatian, Serbian (Latin and Cyrillic), Bosnian: one group
    ("hbs", "Bok, kada će stići moj paket?"),
    ("hbs", "gdje je moja narudzba"),
    ("hbs", "Zdravo, da li je moguće promeniti adresu dostave?"),
    ("hbs", "Здраво, где је моја поруџбина?"),
    ("hbs", "Selam, šta se desilo sa mojom narudžbom?"),
    ("hbs", "hvala lijepa"),
    # German, Russian (also_detect)
    ("de", "Guten Tag, wo bleibt mein Paket?"),
    ("de", "Ich habe mein Passwort vergessen"),
    ("de", "danke schön"),
    ("ru", "Здравствуйте, где мой заказ?"),
]


@pytest.mark.parametrize(("expected", "text"), DETECTS)
def test_detects_language(detector: LanguageDetector, expected: str, text: str) -> None:
    result = detector.detect(text)
    assert result.language == expected, result
    assert 0.0 < result.confidence <= 1.0
    assert result.candidates[0][0] == expected
    assert len(result.candidates) <= 3


def test_long_texts_are_confident(detector: LanguageDetector) -> None:
    english = (
        "Hello, I ordered a pair of running shoes last Tuesday and the tracking page "
        "still says the parcel is waiting at the depot. Could you tell me when it will "
        "be delivered, or whether I should cancel the order and get a refund instead? "
    ) * 5
    slovene = (
        "Pozdravljeni, prejšnji teden sem naročil nove čevlje, pa paketa še vedno ni. "
        "Na strani za sledenje piše, da čaka v skladišču. Mi lahko poveste, kdaj bo "
        "dostavljen, ali naj naročilo raje prekličem in dobim denar nazaj? "
    ) * 5
    for expected, text in (("en", english), ("sl", slovene)):
        result = detector.detect(text)
        assert result.language == expected
        assert result.confidence >= 0.99
        assert result.words > 30


CROATIAN = [
    "Gdje je moja narudžba?",
    "hvala lijepa na pomoći",
    "molim vas, ne znam što se dogodilo s paketom",
    "može li netko provjeriti moju narudžbu",
    "što trebam napraviti da vratim proizvod",
    "ne mogu se ulogirati u aplikaciju",
    "kad će mi stići povrat novca",
    "pošiljka je oštećena, što sad",
    "treba mi račun za tvrtku",
    "jel mogu promijeniti adresu dostave",
    "ne radi mi kod za popust",
    "koliko dugo traje dostava u Split",
]


@pytest.mark.parametrize("text", CROATIAN)
def test_croatian_is_hbs_never_slovene(detector: LanguageDetector, text: str) -> None:
    result = detector.detect(text)
    assert result.language == GROUP_CODE, result


SLOVENE = [
    "Kje je moje naročilo?",
    "hvala lepa za pomoč",
    "prosim, ne vem kaj se je zgodilo s paketom",
    "lahko kdo preveri moje naročilo",
    "kaj moram narediti, da vrnem izdelek",
    "ne morem se prijaviti v aplikacijo",
    "kdaj bom dobil denar nazaj",
]


@pytest.mark.parametrize("text", SLOVENE)
def test_slovene_is_not_hbs(detector: LanguageDetector, text: str) -> None:
    assert detector.detect(text).language == "sl"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\n\t",
        "👍",
        "👍🏽👍🏽",
        "❤️🙏",
        "ok",
        "OK!!",
        "Okkkk",
        "12345",
        "?!",
        "...",
        "lol",
        "hahaha",
        "k",
        "https://example.com/track?id=5",
        "@agent",
        "mail@example.com",
        "😂😂 ok 😂",
        "+386 40 123 456",
        "#42",
    ],
)
def test_undecidable_text_has_no_language(
    detector: LanguageDetector, text: str
) -> None:
    result = detector.detect(text)
    assert result.language is None
    assert result.confidence == 0.0
    assert result.words == 0


def test_neutral_chat_tokens_do_not_count_as_words(detector: LanguageDetector) -> None:
    assert detector.detect("ok thanks 👍").words == 1
    assert detector.detect("lol ok, hvala lepa!!").words == 2


def test_short_messages_get_lower_confidence(detector: LanguageDetector) -> None:
    one_word = detector.detect("hvala")
    assert one_word.confidence < 0.9  # Slovenian and Croatian alike
    full = detector.detect("hvala puno, to mi je jako pomoglo")
    assert full.confidence > one_word.confidence


def test_one_telling_word_decides_a_pair(detector: LanguageDetector) -> None:
    assert detector.detect("hvala lepa").language == "sl"
    assert detector.detect("hvala lijepa").confidence >= 0.9
    assert detector.detect("ne znam").language == GROUP_CODE


def test_script_decides_and_mixed_scripts_follow_the_majority(
    detector: LanguageDetector,
) -> None:
    arabic = detector.detect("شكرا")
    assert (arabic.language, arabic.method) == ("ar", "script")
    assert arabic.confidence >= 0.9
    mixed = detector.detect("order مرحبا كيف حالك")
    assert mixed.language == "ar"
    assert mixed.confidence < arabic.confidence
    assert detector.detect("my name is محمد and I need help").language == "en"


def test_unconfigured_script_gives_none(detector: LanguageDetector) -> None:
    for text in ("你好，我的订单在哪里", "Γεια σας, πού είναι η παραγγελία μου;"):
        result = detector.detect(text)
        assert result.language is None
        assert result.method == "script"


# --- hints --------------------------------------------------------------------------


def test_hint_used_when_text_is_undecidable(detector: LanguageDetector) -> None:
    result = detector.detect("👍", hint="sl-SI")
    assert (result.language, result.method) == ("sl", "hint")
    assert result.confidence == HINT_CONFIDENCE
    assert detector.detect("ok", hint="hr_HR").language == GROUP_CODE
    assert detector.detect("ok", hint="sr-Latn-RS").language == GROUP_CODE


def test_hint_ignored_when_text_is_clear(detector: LanguageDetector) -> None:
    result = detector.detect("Where is my order, please?", hint="sl-SI")
    assert result.language == "en"
    assert result.method != "hint"


def test_hint_decides_weak_text_in_its_script(detector: LanguageDetector) -> None:
    weak = detector.detect("hotel")  # a word of many languages
    assert weak.language is None
    assert weak.confidence < 0.5
    assert detector.detect("hotel", hint="sl-SI").language == "sl"
    # An Arabic-locale browser does not make Latin text Arabic.
    assert detector.detect("hotel", hint="ar-EG").language != "ar"


def test_unconfigured_or_malformed_hint_is_ignored(detector: LanguageDetector) -> None:
    for hint in ("ja-JP", "xx", "", "12", "🙂", "\ud800", None):
        assert detector.detect("👍", hint=hint).language is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sl-SI", "sl"),
        ("SL", "sl"),
        ("sr_Latn_RS", GROUP_CODE),
        ("bs", GROUP_CODE),
        ("hr-HR", GROUP_CODE),
        ("hbs", GROUP_CODE),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("ar", "ar"),
        ("english", None),
        ("", None),
        ("1", None),
        (None, None),
    ],
)
def test_normalize_code(raw: Any, expected: str | None) -> None:
    assert normalize_code(raw) == expected


# --- configuration of the detector --------------------------------------------------


def test_group_reported_as_the_one_natively_supported_member() -> None:
    d = LanguageDetector(["en", "hr"], ["sl"])
    assert d.languages == ("en", "hr", "sl")
    assert d.detect("Gdje je moja narudžba?").language == "hr"
    assert d.detect("gde je moja porudžbina").language == "hr"  # Serbian: same group
    assert d.detect("ok", hint="sr-RS").language == "hr"


def test_detection_is_restricted_to_configured_languages() -> None:
    d = LanguageDetector(["en", "sl"])
    result = d.detect("Wo ist meine Bestellung? Ich warte schon seit einer Woche.")
    assert result.language in {"en", "sl", None}
    assert {code for code, _ in result.candidates} <= {"en", "sl"}
    only_latin = LanguageDetector(["en"])
    assert only_latin.detect("hola").language == "en"  # the only Latin choice
    assert only_latin.detect("hola").method == "script"


@pytest.mark.parametrize(
    ("supported", "also"), [(["en", "xx"], []), (["en"], ["slo"]), ([], [])]
)
def test_unknown_codes_are_rejected(supported: list[str], also: list[str]) -> None:
    with pytest.raises(ValueError):
        LanguageDetector(supported, also)


# --- per language and kind: a small fixed set written for the tests -----------------

FIXED = {
    "word": [
        ("en", "shipping"), ("en", "refunded"), ("en", "yesterday"),
        ("sl", "naročnino"), ("sl", "pošiljko"), ("sl", "zamenjavo"),
        ("hbs", "pošiljku"), ("hbs", "računu"), ("hbs", "lozinku"),
        ("de", "Versandkosten"), ("de", "Lieferung"), ("de", "Rückerstattung"),
        ("it", "spedizioni"), ("it", "rimborso"), ("it", "consegna"),
        ("fr", "remboursement"), ("fr", "livraison"), ("fr", "commandes"),
        ("es", "envío"), ("es", "reembolso"), ("es", "pedido"),
        ("tr", "sipariş"), ("tr", "teslimat"), ("tr", "fatura"),
        ("ru", "доставка"), ("ar", "الشحن"),
    ],
    "pair": [
        ("en", "wrong invoice"), ("en", "stop renewing"),
        ("sl", "napačen račun"), ("sl", "ustavite naročnino"),
        ("hbs", "pogrešna lozinka"), ("hbs", "otkažite pretplatu"),
        ("de", "falsche Rechnung"), ("it", "fattura sbagliata"),
        ("fr", "facture erronée"), ("es", "factura incorrecta"),
        ("tr", "yanlış fatura"), ("ru", "неправильный счёт"), ("ar", "فاتورة خاطئة"),
    ],
    "message": [
        ("en", "my voucher code was rejected at checkout"),
        ("sl", "koda za popust ni bila sprejeta na blagajni"),
        ("hbs", "kod za popust nije prihvaćen na blagajni"),
        ("de", "mein Gutscheincode wurde an der Kasse abgelehnt"),
        ("it", "il mio codice sconto è stato rifiutato alla cassa"),
        ("fr", "mon code de réduction a été refusé au paiement"),
        ("es", "mi código de descuento fue rechazado al pagar"),
        ("tr", "indirim kodum ödeme sırasında reddedildi"),
        ("ru", "мой промокод не приняли при оплате"),
        ("ar", "تم رفض رمز الخصم عند الدفع"),
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "expected", "text"),
    [(kind, lang, text) for kind, rows in FIXED.items() for lang, text in rows],
)
def test_each_language_is_detected_from_one_word_up(
    detector: LanguageDetector, kind: str, expected: str, text: str
) -> None:
    result = detector.detect(text)
    assert result.language == expected, result
    assert result.method in {"combined", "script"}


# --- Slovenian vs Croatian/Serbian/Bosnian, both ways (issue 13) ----------------------

#: Slovenian customer messages that the detector before issue 13 took for hbs.
ISSUE_13_SLOVENE = ["kako ustavim mesečni paket", "nočem več plačevati, ukinite članstvo"]
#: Text Slovenian and Croatian share letter for letter: no right answer on its own.
#: "želim trajno zapreti svoj račun" is Slovenian, but every word of it is also a
#: Croatian form ("zapreti": to threaten) and the n-gram models lean hbs (0.6): a known
#: miss of issue 13, kept here at what it guarantees.
SHARED_WITH_HBS = ["hvala!", "dobro jutro", "želim trajno zapreti svoj račun"]


@pytest.mark.parametrize("text", ISSUE_13_SLOVENE)
def test_slovene_messages_from_issue_13_are_slovene(
    detector: LanguageDetector, text: str
) -> None:
    assert detector.detect(text).language == "sl"


@pytest.mark.parametrize("text", SHARED_WITH_HBS)
def test_text_shared_with_hbs_is_never_a_confident_hbs(
    detector: LanguageDetector, text: str
) -> None:
    """Not confident enough to switch a conversation, and Slovenian stays a candidate.

    With 0.3 or more, actions/language.py answers a Slovenian customer in Slovenian
    even when hbs leads (hbs is not served natively).
    """
    result = detector.detect(text)
    assert result.confidence < 0.9
    assert dict(result.candidates).get("sl", 0.0) >= 0.3
    conversation = choose_language("sl", result, **RULE)
    assert conversation == "sl"


def test_one_word_only_one_language_has_decides_both_ways(
    detector: LanguageDetector,
) -> None:
    assert detector.detect("ustavim").language == "sl"
    assert detector.detect("narudžbu").language == GROUP_CODE
    assert detector.detect("ne morem").language == "sl"
    assert detector.detect("ne mogu").language == GROUP_CODE


def test_unsupported_code_names_key_code_and_supported_list() -> None:
    with pytest.raises(ValueError) as caught:
        LanguageDetector(["en", "sl"], ["ja"])
    message = str(caught.value)
    assert message.startswith("also_detect: unsupported language code 'ja'")
    assert "supported: ar, bg, bs" in message and " sl," in message


# --- robustness and speed -----------------------------------------------------------

NAUGHTY = [
    "a" * 10_000,
    "Kje je moje naročilo? " * 500,
    "x" * 100_000 + " hello",
    "\ud800",
    "\udfff",
    "abc\ud800def",
    "\ud83d\ude00",
    "\x00\x01\x02\x1b[31mred\x1b[0m\x7f",
    "\u202eredro ym si erehw\u202c",
    "\u200f\u200e\u061c\u2066\u2069",
    "\ufeffBOM at start",
    "Z̵̢̛a̷̠͝l̶̨̛g̴̣̈o̵̺͊ text",
    "👩‍👩‍👧‍👦🏳️‍🌈🇸🇮🇭🇷",
    "ﷺ ﷻ ﷽",
    "ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ",
    "𝐛𝐨𝐥𝐝 𝐦𝐚𝐭𝐡 𝐭𝐞𝐱𝐭",
    "Ω≈ç√∫˜µ≤≥÷ åß∂ƒ©˙∆˚¬…æ",
    "مرحبا hello Здраво 你好 שלום γεια",
    "'; DROP TABLE users; --",
    "<script>alert('x')</script>",
    "@" * 5000,
    "http://" + "a" * 5000,
    "\n" * 3000,
    "🙂" * 3000,
    "İstanbul'da kargom nerede",
    "ǅ ǈ ǋ ꙋ",
    "\U000e0001\U000e0065\U000e006e",
]


@pytest.mark.parametrize("text", NAUGHTY, ids=range(len(NAUGHTY)))
def test_naughty_strings_never_raise(detector: LanguageDetector, text: str) -> None:
    result = detector.detect(text, hint=text[:20])
    _check_result(detector, result)


def _check_result(detector: LanguageDetector, result: Detection) -> None:
    assert isinstance(result, Detection)
    assert result.language is None or result.language in detector.languages
    assert 0.0 <= result.confidence <= 1.0
    assert len(result.candidates) <= 3
    assert result.words >= 0
    json.dumps(result.to_dict(), allow_nan=False)


def test_random_unicode_never_raises(detector: LanguageDetector) -> None:
    rng = random.Random(0)
    for _ in range(300):
        length = rng.randint(0, 60)
        text = "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(length))
        _check_result(detector, detector.detect(text))


def test_non_string_input_does_not_raise(detector: LanguageDetector) -> None:
    for value in (None, 42, b"bytes", ["list"]):
        assert detector.detect(value).language is None  # type: ignore[arg-type]


def test_long_text_is_truncated(detector: LanguageDetector) -> None:
    """Only MAX_CHARS are read: a 44 kB paste costs what a short message costs."""
    result = detector.detect("Kje je moje naročilo? " * 2_000)
    assert result.language == "sl"
    assert result.words <= MAX_CHARS


def test_threads_share_the_models_safely(detector: LanguageDetector) -> None:
    texts = [text for _, text in DETECTS]
    expected = [detector.detect(t) for t in texts]
    results: list[list[Detection]] = []

    def work() -> None:
        results.append([detector.detect(t) for t in texts])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


# --- Detection as data --------------------------------------------------------------


def test_detection_round_trips_through_json(detector: LanguageDetector) -> None:
    for _, text in DETECTS:
        detection = detector.detect(text)
        data = json.loads(json.dumps(detection.to_dict()))
        assert Detection.from_dict(data) == detection


def test_from_dict_rejects_malformed_data() -> None:
    for bad in (
        {"language": 5},
        {"confidence": "high"},
        {"candidates": [["en"]]},
        {"candidates": 3},
    ):
        with pytest.raises(ValueError):
            Detection.from_dict(bad)
    assert Detection.from_dict({}) == Detection.none()


# --- the sticky rule ----------------------------------------------------------------

RULE = {"default": "en", "switch_confidence": 0.9, "min_words_to_switch": 2}

STICKY = [
    # previous, text, hint, chosen
    ("sl", "ok", None, "sl"),
    ("sl", "👍", None, "sl"),
    ("sl", "thanks", None, "sl"),
    ("sl", "hvala", None, "sl"),
    ("sl", "danke", None, "sl"),
    ("sl", "ok", "de-DE", "sl"),  # a hint never switches
    ("sl", "Gdje je moja narudžba, molim vas?", None, GROUP_CODE),
    ("sl", "I would like to speak to an agent please", None, "en"),
    ("en", "أريد استرجاع المبلغ من فضلك", None, "ar"),
    ("en", "شكرا", None, "ar"),  # decisive script change, one word is enough
    ("en", "refund status", None, "en"),
    ("en", "Ich möchte mein Geld zurück", None, "de"),
    ("ar", "thanks", None, "ar"),  # Latin is not decisive: many languages share it
    ("ar", "I want to return my order please", None, "en"),
    (GROUP_CODE, "hvala lepa", None, GROUP_CODE),  # two words: not sure enough
    (GROUP_CODE, "Pozdravljeni, kje je moje naročilo?", None, "sl"),
    ("sl", "hvala", None, "sl"),  # a word both languages use never switches
    ("sl", "dobro jutro", None, "sl"),
    (None, "ok", None, "en"),
    (None, "👍", "sl-SI", "sl"),
    (None, "Kje je moje naročilo?", None, "sl"),
    (None, "hvala", None, GROUP_CODE),
    (None, "مرحبا", "en-US", "ar"),
]


@pytest.mark.parametrize(("previous", "text", "hint", "chosen"), STICKY)
def test_sticky_rule(
    detector: LanguageDetector,
    previous: str | None,
    text: str,
    hint: str | None,
    chosen: str,
) -> None:
    detection = detector.detect(text, hint=hint)
    assert choose_language(previous, detection, hint=hint, **RULE) == chosen


@pytest.mark.parametrize(
    ("previous", "detection", "hint", "allowed", "chosen"),
    [
        (None, Detection.none(), None, None, "en"),
        (None, Detection.none(), "hr-HR", None, GROUP_CODE),
        (None, Detection.none(), "ja-JP", {"en", "sl"}, "en"),
        (None, Detection.none(), "sl", {"en", "sl"}, "sl"),
        ("sl", Detection("de", 0.95, "py3langid", (), 1), None, None, "sl"),
        ("sl", Detection("de", 0.89, "py3langid", (), 5), None, None, "sl"),
        ("sl", Detection("de", 0.9, "py3langid", (), 2), None, None, "de"),
        ("sl", Detection("de", 1.0, "hint", (), 9), None, None, "sl"),
        ("en", Detection("ar", 0.99, "script", (), 1), None, None, "ar"),
        ("ar", Detection("en", 0.99, "script", (), 1), None, None, "en"),
        ("sl", Detection(GROUP_CODE, 0.99, "script", (), 1), None, None, "sl"),
    ],
)
def test_sticky_rule_pure(
    previous: str | None,
    detection: Detection,
    hint: str | None,
    allowed: set[str] | None,
    chosen: str,
) -> None:
    assert choose_language(previous, detection, hint=hint, allowed=allowed, **RULE) == (
        chosen
    )


# --- settings -----------------------------------------------------------------------


def _section(**data: Any) -> Section:
    base = {"supported": ["en", "ar", "sl"], "default": "en"}
    base.update(data)
    base = {k: v for k, v in base.items() if v is not ...}
    return Section("languages", base, Path("supportbot.yml"), Path("."))


def test_settings_from_the_project_file() -> None:
    settings = LanguageSettings.from_section(
        load_settings(ROOT / "supportbot.yml").section("languages")
    )
    assert settings.supported == ("en", "ar", "sl")
    assert settings.default == "en"
    assert {"hr", "sr", "bs", "de"} <= set(settings.also_detect)
    assert settings.switch_confidence == 0.9
    assert settings.min_words_to_switch == 2
    LanguageDetector.from_settings(settings)


def test_settings_defaults_and_normalisation() -> None:
    settings = LanguageSettings.from_section(
        _section(supported=["EN", "sl", "en"], default=..., also_detect=...)
    )
    assert settings.supported == ("en", "sl")
    assert settings.default == "en"
    assert settings.also_detect == ()


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"supported": ["en", "slo"]}, "languages.supported", "did you mean 'sl'"),
        ({"supported": "xx"}, "languages.supported", "unsupported language code 'xx'"),
        ({"supported": []}, "languages.supported", "empty"),
        ({"supported": None}, "languages.supported", "missing"),
        ({"supported": [1]}, "languages.supported", "not a language code"),
        ({"also_detect": ["hr", "serbian"]}, "languages.also_detect", "serbian"),
        ({"default": "de"}, "languages.default", "not one of the supported"),
        ({"switch_confidence": 1.5}, "languages.switch_confidence", "(0, 1]"),
        ({"switch_confidence": 0}, "languages.switch_confidence", "(0, 1]"),
        ({"switch_confidence": "high"}, "languages.switch_confidence", "number"),
        ({"switch_confidence": True}, "languages.switch_confidence", "number"),
        ({"min_words_to_switch": 0}, "languages.min_words_to_switch", ">= 1"),
        ({"min_words_to_switch": 1.5}, "languages.min_words_to_switch", "whole"),
        ({"switch_confidance": 0.8}, "languages.switch_confidance", "unknown key"),
    ],
)
def test_settings_errors_name_key_and_fix(
    data: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        LanguageSettings.from_section(_section(**data))
    assert caught.value.key == key
    assert caught.value.file == "supportbot.yml"
    assert words in str(caught.value)
    assert "(fix: " in str(caught.value)
