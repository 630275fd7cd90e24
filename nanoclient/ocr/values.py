"""What the text of a field means: amounts, dates and the kind of a value, in the ways invoices write them.

Documents from different issuers write the same value differently: ``1.234,56`` (German, Dutch,
Spanish, Italian, Portuguese), ``1 234,56`` (French), ``$1,234.56`` (English), ``56,02``,
``€4.904,94`` or ``1939``; ``7. Mai 2014``, ``02 Juillet 2015``, ``07.05.2014``, ``05/07/2014``,
``2014-05-07`` or ``May 7, 2014``. This module reads them into Python values, and is shared by the
SDK (``OcrField.as_amount``, ``OcrField.as_date``, ``ocr predict --normalize``) and the local server
(its field extractor's features, and finding a value given without a box on its page):

- ``parse_amount(text, locale=None)``: a ``Decimal``, or None when the text is not an amount;
- ``parse_date(text, locale=None, day_first=None)``: a ``datetime.date``, or None; month names in
  English, German, French, Dutch, Spanish, Italian and Portuguese (accents optional, abbreviations
  with or without a period);
- ``value_kind(text)``: what a value is (``DATE``, ``AMOUNT``, ``NUMBER``: a bare whole number, which
  may be an amount or an identifier; ``IDENTIFIER``, ``NAME``, ``ADDRESS`` or ``OTHER``);
- ``same_value(a, b)``: whether two texts are the same value: the same amount, the same date, or the
  same text once spaces, case, accents and punctuation are set aside;
- ``normalized(text)``: the value in one form (``2014-05-07``, ``4904.94``), as ``ocr predict
  --normalize`` writes it.

A ``locale`` is a language code with an optional territory (``de``, ``de_DE``, ``en-US``). It settles
what the text itself cannot: whether ``1.234`` is one thousand two hundred and thirty-four (``de``)
or one point two three four (``en``), and whether ``05/07/2014`` is the 5th of July (day first: every
locale but US English) or May the 7th (``en_US``, and ``en`` alone). Without one, a lone separator
followed by exactly three digits groups thousands, the last of two different separators is the decimal
one, and a numeric date is read day first when written with dots or dashes and month first with
slashes, unless its numbers say otherwise (``25/12/2014`` can only be day first).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation

__all__ = ["ADDRESS", "AMOUNT", "DATE", "IDENTIFIER", "KINDS", "NAME", "NUMBER", "OTHER", "comparable_text",
           "normalized", "parse_amount", "parse_date", "same_value", "value_kind"]

DATE, AMOUNT, NUMBER, IDENTIFIER, NAME, ADDRESS, OTHER = (
    "date", "amount", "number", "identifier", "name", "address", "other")
#: Every kind ``value_kind`` gives.
KINDS = (DATE, AMOUNT, NUMBER, IDENTIFIER, NAME, ADDRESS, OTHER)

#: Languages that write a decimal point (the others of this module's concern write a decimal comma).
_POINT_LANGUAGES = frozenset({"en", "ja", "zh", "ko", "he", "th", "hi", "ms", "ga"})
#: Territories that write a date month first.
_MONTH_FIRST_TERRITORIES = frozenset({"US", "PH", "FM", "MH", "PW"})

_SPACES = re.compile(r"[\s\u00a0\u2007\u2009\u202f]+")
_CURRENCY_SYMBOLS = "$€£¥₹₽₩₺₫₪฿¢"
_CURRENCY_WORDS = ("usd", "eur", "gbp", "chf", "jpy", "cad", "aud", "nzd", "sek", "nok", "dkk", "pln", "czk",
                   "huf", "inr", "brl", "mxn", "cny", "rmb", "zar", "sgd", "hkd", "try", "rub", "ron", "bgn",
                   "isk", "us$", "r$", "c$", "a$", "nz$", "hk$", "s$", "fr.", "fr", "sfr", "kr", "kr.", "zł",
                   "kč", "ft", "lei", "euro", "euros", "dollars", "rs", "rs.")
_CURRENCY_AT_START = re.compile(
    r"^(?:[" + re.escape(_CURRENCY_SYMBOLS) + r"]|(?:"
    + "|".join(re.escape(w) for w in sorted(_CURRENCY_WORDS, key=len, reverse=True)) + r")(?=[\s\d(\-−]|$))\s*",
    re.IGNORECASE)
_CURRENCY_AT_END = re.compile(
    r"\s*(?:[" + re.escape(_CURRENCY_SYMBOLS) + r"]|(?<![a-z])(?:"
    + "|".join(re.escape(w) for w in sorted(_CURRENCY_WORDS, key=len, reverse=True)) + r"))$",
    re.IGNORECASE)
_NUMBER = re.compile(r"^\d[\d.,' ]*$")


def _locale_parts(locale: str | None) -> tuple[str, str]:
    """(language, territory) of a locale code, lower- and upper-cased; ("", "") for None."""
    if not locale:
        return "", ""
    parts = re.split(r"[_\-.@]", locale.strip())
    language = parts[0].lower()
    territory = parts[1].upper() if len(parts) > 1 else ""
    return language, territory


def _decimal_mark(locale: str | None) -> str | None:
    """The locale's decimal mark ("." or ","), None without a locale."""
    language, territory = _locale_parts(locale)
    if not language:
        return None
    if territory in ("CH", "LI") or language in _POINT_LANGUAGES:
        return "."
    if territory in ("US", "GB", "AU", "IN", "IE", "NZ", "PH", "MX"):
        return "."
    return ","


def _strip_amount(text: str) -> tuple[str, bool, bool] | None:
    """The number of an amount's text, whether it is negative and whether it is written as money (a
    currency, or ``12,-``);
    None if the text is not a number with an optional currency and sign."""
    s = _SPACES.sub(" ", text).strip()
    negative = False
    currency = False
    if s.startswith("(") and s.endswith(")"):
        s, negative = s[1:-1].strip(), True
    for _ in range(2):  # "-€12", "€ -12", "EUR 12,50 -": currency and sign in either order
        if s[:1] in "-−–":
            s, negative = s[1:].strip(), True
        elif s[-1:] in "-−–" and not re.search(r"[.,]-+$", s):
            s, negative = s[:-1].strip(), True
        found = _CURRENCY_AT_START.match(s)
        if found and found.end() < len(s):
            s, currency = s[found.end():].strip(), True
        found = _CURRENCY_AT_END.search(s)
        if found and found.start() > 0:
            s, currency = s[:found.start()].strip(), True
    whole = re.sub(r"[.,]-+$", "", s)  # "12,-" (German): a whole amount
    if whole != s:
        s, currency = whole, True
    if not s or not _NUMBER.match(s) or not s[-1].isdigit():
        return None
    return s, negative, currency


def _read_number(number: str, decimal_mark: str | None) -> Decimal | None:
    """A number written with group separators (``.``, ``,``, space, apostrophe) and a decimal mark."""
    marks = [(i, c) for i, c in enumerate(number) if not c.isdigit()]
    if not marks:
        return Decimal(number)
    if decimal_mark is None:
        last_index, last = marks[-1]
        others = {c for _, c in marks[:-1]}
        digits_after = len(number) - last_index - 1
        if last in " '":
            point_at = None  # no decimal part: every mark groups
        elif others and last not in others:
            point_at = last_index  # "1.234,56", "1,234.56", "1 234,56"
        elif not others and digits_after != 3:
            point_at = last_index  # "56,02", "12.5"
        else:
            point_at = None  # "1,234", "1.234.567": groups
    else:
        point_at = None
        last_index, last = marks[-1]
        if last == decimal_mark:
            point_at = last_index
    integer, fraction = (number[:point_at], number[point_at + 1:]) if point_at is not None else (number, "")
    if fraction and not fraction.isdigit():
        return None
    groups = re.split(r"[.,' ]", integer)
    separators = {c for c in integer if not c.isdigit()}
    if len(separators) > 1 or not groups[0] or len(groups[0]) > 3 and len(groups) > 1:
        return None
    if any(len(group) != 3 for group in groups[1:]):
        return None
    try:
        return Decimal("".join(groups) + ("." + fraction if fraction else ""))
    except InvalidOperation:  # pragma: no cover - the checks above leave only digits
        return None


def parse_amount(text: str, locale: str | None = None) -> Decimal | None:
    """The amount a text writes (``€4.904,94`` is ``Decimal("4904.94")``), or None if it is no amount.

    Takes a currency symbol or code before or after the number, a sign (``-12.50``, ``(12.50)``,
    ``12.50-``), groups of three digits separated by ``.``, ``,``, spaces or apostrophes, and ``12,-``.
    With a ``locale`` its decimal mark decides what the text cannot; if the text cannot be read that
    way (``12.50`` in a German document), it is read as without one.
    """
    stripped = _strip_amount(text)
    if stripped is None:
        return None
    number, negative, _ = stripped
    value = None
    mark = _decimal_mark(locale)
    if mark is not None:
        value = _read_number(number, mark)
    if value is None:
        value = _read_number(number, None)
    if value is None:
        return None
    return -value if negative else value


# ---------------------------------------------------------------------- dates

_MONTHS: dict[str, int] = {}
for _month, _names in enumerate((
        "january jan januar jaenner janner janvier janv januari enero ene gennaio genn gen janeiro",
        "february feb febr februar fevrier fev fevr februari febrero fio febbraio fevereiro fever",
        "march mar marz maerz mrz mars maart mrt marzo marco",
        "april apr avril avr abril abr aprile",
        "may mai mei mayo maggio mag maio",
        "june jun juni juin junio giugno giu junho",
        "july jul juli juillet juil julio luglio lug julho",
        "august aug august aout augustus agosto ago",
        "september sep sept septembre settembre set setembro septiembre septiem",
        "october oct oktober okt octobre octubre ottobre ott outubro out",
        "november nov novembre noviembre novembro",
        "december dec dez dezember decembre decembro diciembre dicembre dic"), start=1):
    for _name in _names.split():
        _MONTHS.setdefault(_name, _month)
_WEEKDAYS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun "
    "montag dienstag mittwoch donnerstag freitag samstag sonnabend sonntag mo di mi do fr sa so "
    "lundi mardi mercredi jeudi vendredi samedi dimanche lun mer jeu ven sam dim "
    "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag "
    "lunes martes miercoles jueves viernes sabado domingo "
    "lunedi martedi mercoledi giovedi venerdi sabato domenica "
    "segunda terca quarta quinta sexta feira".split())
#: Words between a date's parts: "7 de mayo de 2014", "the 7th of May", "1er juillet".
_DATE_FILLERS = frozenset({"de", "del", "of", "the", "le", "den", "der", "am", "op", "il", "em"})
_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th|er|re|e|eme|º|ª|o|a)$")
_NUMERIC_DATE = re.compile(r"^(\d{1,4})\s*([./\-])\s*(\d{1,2})\s*\2\s*(\d{1,4})\.?$")


def _plain(text: str) -> str:
    """Lower case without accents (``März`` is ``marz``, ``février`` is ``fevrier``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _year(text: str) -> int | None:
    if len(text) == 4:
        year = int(text)
        return year if 1900 <= year <= 2199 else None
    if len(text) == 2:
        year = int(text)
        return 2000 + year if year < 70 else 1900 + year
    return None


def _day_first(locale: str | None, separator: str) -> bool:
    language, territory = _locale_parts(locale)
    if language:
        return not (territory in _MONTH_FIRST_TERRITORIES or (language == "en" and not territory))
    return separator != "/"


def _make(year: int | None, month: int, day: int) -> dt.date | None:
    if year is None:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str, locale: str | None = None, *, day_first: bool | None = None) -> dt.date | None:
    """The date a text writes, or None if it is no date.

    Numeric forms: ``2014-05-07`` (year first is always year, month, day), ``07.05.2014``,
    ``05/07/2014``, ``7-5-14`` (two-digit years are 1970 to 2069). Which of day and month comes first
    is ``day_first`` if given, else what the numbers allow (a number above 12 is a day), else the
    locale's order, else day first for dots and dashes and month first for slashes. Named months in
    any order with the day: ``7. Mai 2014``, ``02 Juillet 2015``, ``May 7, 2014``, ``7 de mayo de
    2014``, ``07-May-2014``, ``Monday, 7th May 2014``.
    """
    s = _SPACES.sub(" ", text).strip()
    if not s or len(s) > 40:
        return None
    numeric = _NUMERIC_DATE.match(s)
    if numeric:
        first, separator, middle, last = numeric.groups()
        if len(first) == 4:
            return _make(_year(first), int(middle), int(last)) if len(last) <= 2 else None
        if len(first) > 2 or len(last) not in (2, 4):
            return None
        a, b, year = int(first), int(middle), _year(last)
        if day_first is None:
            if a > 12 >= b:
                day_first = True
            elif b > 12 >= a:
                day_first = False
            else:
                day_first = _day_first(locale, separator)
        return _make(year, b, a) if day_first else _make(year, a, b)
    return _named_date(s)


def _named_date(text: str) -> dt.date | None:
    """A date with its month in words, in any order of day, month and year."""
    tokens = [t for t in re.split(r"[\s,./\-]+", _plain(text)) if t]
    if tokens and (tokens[0] in _DATE_FILLERS or tokens[-1] in _DATE_FILLERS):
        return None  # "le 29 novembre 2016", "2025 28 de mayo de": words of the sentence around a date
    month = day = year = None
    numbers: list[str] = []
    for token in tokens:
        ordinal = _ORDINAL.match(token)
        if token.isdigit() or ordinal:
            numbers.append(ordinal.group(1) if ordinal else token)
        elif token in _MONTHS and month is None:
            month = _MONTHS[token]
        elif token in _WEEKDAYS or token in _DATE_FILLERS:
            continue
        else:
            return None
    if month is None or len(numbers) != 2:
        return None
    if len(numbers[0]) == 4 or (len(numbers[0]) <= 2 and len(numbers[1]) <= 2 and int(numbers[0]) > 31):
        year, day_text = _year(numbers[0]), numbers[1]
    else:
        day_text, year = numbers[0], _year(numbers[1])
    if len(day_text) > 2:
        return None
    day = int(day_text)
    return _make(year, month, day)


# ---------------------------------------------------------------------- kinds and comparison

_STREET_WORDS = re.compile(
    r"(strasse|str\b|weg\b|gasse|platz|allee|ring\b|damm\b|ufer\b|street|st\b|road|rd\b|avenue|ave\b|lane|ln\b|"
    r"drive|dr\b|boulevard|blvd|way\b|court|ct\b|place|pl\b|square|highway|hwy|suite|rue|chemin|impasse|"
    r"laan\b|straat|plein\b|gracht|kade\b|calle|avenida|avda|plaza|paseo|carrer|via\b|viale|piazza|corso|"
    r"rua|travessa|largo|praca|apartado|postfach|p\.?o\.? box|box\b)", re.IGNORECASE)
_POSTCODE_AND_PLACE = re.compile(r"(^|\s)(\d{4,5}|\d{4}\s?[A-Z]{2}|[A-Z]{1,2}-\d{4,5})\s+[A-ZÀ-Ý][a-zà-ÿ]{2,}")
_CONTACT = re.compile(r"(^|\s)(www\.|https?://)|@|\.(com|org|net|example|de|fr|nl|es|it|pt|eu|co\.uk)(/|\s|$)",
                      re.IGNORECASE)
_IDENTIFIER_TOKEN = re.compile(r"^[#№]?[A-Za-z0-9]+(?:[-/_.:#][A-Za-z0-9]+)*$")


def value_kind(text: str, locale: str | None = None) -> str:
    """What a value is: DATE, AMOUNT (a currency, a decimal part or grouped thousands), NUMBER (a bare whole
    number: an amount or an identifier), IDENTIFIER (digits among letters or dashes: ``INV-20413``,
    ``2014/0042``), ADDRESS (a street word or a postcode before a place), NAME (words without digits) or OTHER
    (a web or mail address among others).
    """
    s = _SPACES.sub(" ", text).strip()
    if not s:
        return OTHER
    if parse_date(s, locale) is not None:
        return DATE
    stripped = _strip_amount(s)
    if stripped is not None and parse_amount(s, locale) is not None:
        number, _, currency = stripped
        return AMOUNT if currency or not number.isdigit() else NUMBER
    if _CONTACT.search(s):
        return OTHER  # a web or mail address is no name
    has_digit = any(c.isdigit() for c in s)
    tokens = s.split()
    if has_digit and (_STREET_WORDS.search(_plain(s)) and len(tokens) >= 2 or _POSTCODE_AND_PLACE.search(s)):
        return ADDRESS
    if has_digit:
        body = [t for t in tokens if t.lower().rstrip(".:") not in ("no", "nr", "n°", "nº", "#")]
        if 1 <= len(body) <= 2 and any(_IDENTIFIER_TOKEN.match(t.rstrip(".,;:")) for t in body):
            return IDENTIFIER
        return OTHER
    words = [t for t in tokens if any(c.isalpha() for c in t)]
    if words and len(tokens) <= 8 and len(words) >= len(tokens) - 1:
        if _STREET_WORDS.search(_plain(s)) and len(tokens) >= 2 and not re.search(
                r"\b(inc|ltd|llc|gmbh|co|corp|sa|sarl|bv|nv|srl|spa|ag|kg)\b\.?", _plain(s)):
            return ADDRESS
        return NAME
    return OTHER


def comparable_text(text: str) -> str:
    """A text as ``same_value`` compares it: letters and digits only, lower case, without accents."""
    return "".join(c for c in _plain(text) if c.isalnum())


def same_value(a: str, b: str, locale: str | None = None) -> bool:
    """Whether two texts write the same value: the same date, the same amount (``4904.94`` and ``€4.904,94``),
    or the same letters and digits once spaces, case, accents and punctuation are set aside
    (``ACME Co.`` and ``Acme Co``). An empty text is the same as nothing."""
    plain_a, plain_b = comparable_text(a), comparable_text(b)
    if not plain_a or not plain_b:
        return False
    if plain_a == plain_b:
        return True
    date_a = parse_date(a, locale)
    if date_a is not None:
        return date_a == parse_date(b, locale)
    amount_a = parse_amount(a, locale)
    if amount_a is not None:
        amount_b = parse_amount(b, locale)
        return amount_b is not None and amount_a == amount_b
    return False


def normalized(text: str, locale: str | None = None) -> str:
    """The value a text writes, in one form whatever the document's: a date as ``YYYY-MM-DD``, an amount as a
    plain decimal (``€4.904,94`` is ``4904.94``); other text (identifiers, bare numbers, names) with its runs of
    spaces made one."""
    kind = value_kind(text, locale)
    if kind == DATE:
        found = parse_date(text, locale)
        return found.isoformat() if found is not None else text
    if kind == AMOUNT:
        amount = parse_amount(text, locale)
        return str(amount) if amount is not None else text
    return " ".join(text.split())
