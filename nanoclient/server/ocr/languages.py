"""The languages an OCR model's documents are read in: named at creation, or found in its training documents.

Tesseract reads a page with the language packs it is told (``-l deu+eng``); read with the wrong one, a
German page loses its umlauts ("Bürobedarf" becomes "Burobedarf", "Gartenstraße" "GartenstraBe"). A
model's languages are Tesseract's three-letter codes (``LANGUAGES`` is the documented set that
``scripts/system_deps.sh`` installs on Debian; any other installed pack is accepted too); ISO 639-1
codes (``de``) and the bibliographic ones (``ger``) are taken as their Tesseract names.

A model created without languages has them found at training (``vote``): the first pages of a sample of
its training documents are read in English and each page's words are counted against a small lexicon per
language of words that fill invoices, orders and receipts (labels and the commonest short words). Each document is read
in one language (each more slows Tesseract down by about a third): for a model of several, the one that
the words of its first page, read in the model's first language, show (``pick``). Nothing here knows
HTTP or SQL.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable, Sequence

#: The languages ``scripts/system_deps.sh`` installs (Tesseract's codes), in the order they are tried.
LANGUAGES = ("eng", "deu", "fra", "nld", "spa", "ita", "por")
#: What a model reads in when it names none and none could be found.
DEFAULT = ("eng",)
#: At most this many languages per model.
MOST = 5
#: Other names of the documented languages (ISO 639-1 and 639-2/B).
_ALIASES = {"en": "eng", "de": "deu", "ger": "deu", "fr": "fra", "fre": "fra", "nl": "nld", "dut": "nld",
            "es": "spa", "it": "ita", "pt": "por"}

#: Words typical of each language on invoices, orders and receipts, lower case without accents (as a
#: page read in English spells them).
_LEXICON: dict[str, frozenset[str]] = {language: frozenset(words.split()) for language, words in {
    "eng": "the and of to for invoice number date due total amount bill ship customer order quantity qty price "
           "unit description street payment tax subtotal please thank you balance terms net days vendor item",
    "deu": "der die das und von mit fur rechnung rechnungsnummer rechnungsdatum datum betrag gesamtbetrag summe "
           "netto brutto mwst ust steuer zahlbar bis lieferung kunde kundennummer bestellung bestellnummer menge "
           "preis einzelpreis gesamt strasse str seite bitte zahlungsziel fallig tage gmbh lieferant auftrag "
           "leistungsdatum zwischensumme betrag rechnungsnr bestellnr quittung beleg bon zzgl inkl lieferschein",
    "fra": "le la les du des et pour facture numero date montant total ttc ht tva client commande quantite "
           "prix unitaire echeance rue sarl merci paiement fournisseur livraison bon reference designation "
           "sous jours recu ticket caisse reglement",
    "nld": "het een en van voor factuur factuurnummer factuurdatum bedrag totaal btw klant bestelling aantal "
           "prijs straat vervaldatum betaling leverancier omschrijving bestelnummer subtotaal dagen kassabon bon",
    "spa": "el los las del y para factura numero fecha importe total iva cliente pedido cantidad precio calle "
           "vencimiento pago proveedor descripcion subtotal gracias recibo ticket transferencia codigo",
    "ita": "il lo gli di del e per fattura numero data importo totale iva cliente ordine quantita prezzo via "
           "scadenza pagamento fornitore descrizione imponibile ricevuta scontrino",
    "por": "o os do da e para fatura numero data valor total iva cliente pedido quantidade preco rua "
           "vencimento pagamento fornecedor descricao obrigado recibo",
}.items()}
#: A language is kept when its share of the lexicon's hits on the sampled pages reaches this.
_SHARE = 0.15
#: ...and it has at least this many hits.
_HITS = 3


def normalise(languages: Iterable[str]) -> tuple[str, ...]:
    """The languages as Tesseract's codes, each once, in the order given; ValueError for a name that is no
    language code (two or three letters, or a pack name such as ``chi_sim``)."""
    codes: list[str] = []
    for name in languages:
        code = str(name).strip().lower()
        if not code:
            continue
        code = _ALIASES.get(code, code)
        if not (code.replace("_", "").isalpha() and code.isascii() and 2 <= len(code) <= 12):
            raise ValueError(f"{name!r} is not a language code (use Tesseract's, such as deu, eng, fra)")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


@functools.lru_cache(maxsize=4)
def installed(command: str = "tesseract") -> frozenset[str]:
    """The language packs the engine has (empty if it is not installed or does not say)."""
    if shutil.which(command) is None:
        return frozenset()
    try:
        done = subprocess.run([command, "--list-langs"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    lines = (done.stdout or done.stderr).decode("utf-8", "replace").splitlines()
    return frozenset(line.strip() for line in lines[1:] if line.strip() and " " not in line.strip())


def missing(languages: Sequence[str], command: str = "tesseract") -> list[str]:
    """The languages whose pack the engine lacks (none when the engine itself is missing: that is said
    elsewhere, when a page is read)."""
    if not languages:
        return []
    have = installed(command)
    return [code for code in languages if have and code not in have]


def install_hint(languages: Sequence[str]) -> str:
    """How to install these packs, in one line."""
    packages = " ".join(f"tesseract-ocr-{code.replace('_', '-')}" for code in languages)
    return f"install the language packs: `sudo apt-get install {packages}` (Debian, Ubuntu)"


def _plain(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if c.isalpha() and not unicodedata.combining(c))


def _hits(words: Iterable[str], languages: Iterable[str]) -> dict[str, float]:
    """How many of the words each language's lexicon holds (a word of several counts for each in part)."""
    hits = dict.fromkeys((code for code in languages if code in _LEXICON), 0.0)
    for word in words:
        token = _plain(word)
        if len(token) < 2:
            continue
        owners = [code for code in hits if token in _LEXICON[code]]
        for code in owners:
            hits[code] += 1 / len(owners)
    return hits


def detect(words: Iterable[str], *, available: Iterable[str] = LANGUAGES) -> tuple[str, ...]:
    """The languages of words read from a model's pages, commonest first (at most ``MOST``): each
    language of ``available`` whose lexicon takes at least ``_SHARE`` of the hits. ``DEFAULT`` when the
    words match no lexicon well enough."""
    have = set(available)
    hits = _hits(words, (code for code in LANGUAGES if code in have))
    total = sum(hits.values())
    chosen = [code for code, count in sorted(hits.items(), key=lambda item: -item[1])
              if count >= _HITS and count >= _SHARE * total]
    return tuple(chosen[:MOST]) or DEFAULT


def vote(documents: Iterable[Iterable[str]], *, available: Iterable[str] = LANGUAGES) -> tuple[str, ...]:
    """The languages of a model's documents (each given by the words of its first page), commonest first (at
    most ``MOST``): each document's language is ``pick``ed, and a language is kept when at least a twentieth of
    the documents are in it (each document is read in one of them: one more costs next to nothing). ``DEFAULT``
    for no document."""
    have = [code for code in LANGUAGES if code in set(available)]
    if not have:
        return DEFAULT
    counts: dict[str, int] = {}
    for words in documents:
        hits = _hits(words, have)
        if max(hits.values(), default=0) >= 2:  # a page with next to no known word says nothing
            chosen = pick(list(words), have)
            counts[chosen] = counts.get(chosen, 0) + 1
    total = sum(counts.values())
    ranked = [code for code, count in sorted(counts.items(), key=lambda item: -item[1]) if count >= 0.05 * total]
    return tuple(ranked[:MOST]) or DEFAULT


def pick(words: Iterable[str], languages: Sequence[str]) -> str:
    """Which of ``languages`` (most likely first) one document's words are in: the one whose lexicon holds
    the most of them, if that is at least two and more than any other's; else the first."""
    hits = _hits(words, languages)
    ranked = sorted(hits.items(), key=lambda item: -item[1])
    if ranked and ranked[0][1] >= 2 and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
        return ranked[0][0]
    return languages[0]


__all__ = ["DEFAULT", "LANGUAGES", "MOST", "detect", "install_hint", "installed", "missing", "normalise", "pick",
           "vote"]
