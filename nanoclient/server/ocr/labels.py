"""What the label beside a value means, in the languages invoices, orders and receipts are written in.

Each issuer labels its fields in its own words: ``Invoice No``, ``Rechnungsnummer``, ``Rechnungsnr.``,
``Facture n°``, ``Numéro de facture``, ``Factuurnummer``, ``Número de factura``, ``Fattura n.`` all
say "invoice number". A field extractor that learns only the exact words of the issuers it was trained
on learns nothing of a new issuer's. This module maps label words in English, German, French, Dutch,
Spanish, Italian and Portuguese to *concepts* (``INVOICE_NUMBER``, ``DUE_DATE``, ``TOTAL``, ...), so
that the extractor's features can say ``left_concept:invoice_number`` whatever the words.

``concept(words)`` reads the words nearest a value (nearest last, as they stand on the page before it)
and gives the concept of the label they end with, preferring the longest label ("Due Date" over
"Date", "Order Date" over "Order"). Words are compared in lower case without accents and punctuation
(``N°`` is ``no``, ``Rechnungs-Nr.`` is ``rechnungsnr``), so OCR that drops an accent still matches.
Nothing here knows pages, HTTP or SQL.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

__all__ = ["CONCEPTS", "DOCUMENT_KINDS", "concept", "concepts_in", "document_kind", "label_word"]

#: Each concept and the labels that name it: words separated by spaces, each a regular expression over one
#: label word (lower case, no accents or punctuation). Several words match several consecutive words.
_LABELS: dict[str, tuple[str, ...]] = {
    "invoice_number": (
        r"(invoice|inv|bill|receipt|rechnungs?|facture|factuur|factura|fattura|fatura|nota|recibo|quittung|"
        r"beleg|ricevuta|credit|gutschrift|avoir|creditnota) (number|no|nr|nbr|num|nummer|n|nro|numero|id|ref)",
        r"(invoice|tax invoice|facture|factuur|factura|fattura|fatura) (no|nr)?",
        r"(rechnungs?|beleg|factuur|faktura|gutschrift|credit)(nummer|nr|no)",
        r"invoiceno|invoicenumber|invoicenr|invno",
        r"(numero|num|no|nr|n|nro) (de|della|da|van|der|del)? (la|de)? (facture|factura|fattura|fatura|factuur|"
        r"rechnung|recibo|ricevuta)",
        r"(booking|document|doc|voucher|transaction|receipt) (id|no|number|nr|ref)",
    ),
    "invoice_date": (
        r"(invoice|inv|bill|rechnungs?|facture|factuur|factura|fattura|fatura|receipt|beleg) (date|datum|data|fecha)",
        r"(rechnungs|beleg|factuur|faktura)datum",
        r"date (de|of)? (la)? (facture|factura|invoice|issue|emission)",
        r"(fecha|data) (de|della|da)? (la)? (factura|fattura|fatura|emision|emissione|emissao)",
        r"(issue|issued|issuing|ausstellungs|emission|billing) (date|on|datum)?",
        r"date issued|ausstellungsdatum|rechnungstag|datum der rechnung",
    ),
    "due_date": (
        r"(due|payment due|pay by|payable by|due by|due on) (date)?",
        r"payment due date|date due|balance due date",
        r"(falligkeit|falligkeitsdatum|fallig|zahlbar bis|zahlungsziel|zahlbar|fallig am|zahlungsfrist)",
        r"(falligkeits|zahlungs)datum",
        r"(echeance|date d echeance|date echeance|date de l echeance|a payer avant|payable avant|"
        r"date limite de paiement|a regler avant|regler avant|a regler avant le|payable avant le|a payer avant le|"
        r"payable le|a payer le)",
        r"(zahlbar bis zum|zahlbar bis|bitte zahlen sie bis|bitte uberweisen sie bis|bis zum|zahlbar am)",
        r"(payment due by|please pay by|payable on|pay before|due no later than)",
        r"(te betalen voor|te voldoen voor|betalen voor|uiterlijk)",
        r"(pagar antes del|pagadero antes del|a pagar antes de|fecha limite)",
        r"(da pagare entro il|pagare entro il|entro il)",
        r"(pagar ate|a pagar ate|pagavel ate)",
        r"(vervaldatum|vervaldag|te betalen voor|uiterste betaaldatum|betaaldatum)",
        r"(fecha de vencimiento|vencimiento|vence|fecha limite de pago)",
        r"(scadenza|data di scadenza|data scadenza|scadenza pagamento)",
        r"(data de vencimento|vencimento|data limite de pagamento)",
    ),
    "total": (
        r"(total|grand total|total due|amount due|balance due|total amount|invoice total|total payable|"
        r"amount payable|balance|total to pay|total usd|total eur|total incl vat|total inc vat)",
        r"(gesamt|gesamtbetrag|endbetrag|rechnungsbetrag|gesamtsumme|summe|zu zahlen|zahlbetrag|bruttobetrag|"
        r"gesamt brutto|rechnungssumme|endsumme|zahlungsbetrag|total brutto)",
        r"(total ttc|montant total|net a payer|montant du|montant ttc|total a payer|somme due|montant a payer)",
        r"(totaal|totaalbedrag|te betalen|totaal incl btw|totaal te betalen|eindtotaal|factuurbedrag)",
        r"(importe total|total a pagar|importe a pagar|total factura)",
        r"(totale|importo totale|totale fattura|da pagare|totale da pagare|totale documento)",
        r"(valor total|total a pagar|montante total|valor a pagar)",
    ),
    "subtotal": (
        r"(subtotal|sub total|net|net amount|total net|amount before tax|total excl vat|total ex vat)",
        r"(netto|zwischensumme|nettobetrag|summe netto|gesamt netto|nettosumme)",
        r"(total ht|sous total|montant ht|base ht)",
        r"(subtotaal|totaal excl btw|netto bedrag)",
        r"(base imponible|imponibile|subtotale|totale imponibile|base tributavel)",
    ),
    "tax": (
        r"(tax|vat|sales tax|gst|hst|mwst|ust|umsatzsteuer|mehrwertsteuer|tva|btw|iva|igic|taxes|impuestos|"
        r"imposta|imposto)( \d+)?",
    ),
    "vendor": (
        r"(from|seller|vendor|supplier|issued by|bill from|sold by|payee|merchant|company)",
        r"(lieferant|verkaufer|absender|rechnungssteller|leistungserbringer)",
        r"(fournisseur|vendeur|emetteur|prestataire)",
        r"(leverancier|verkoper|afzender)",
        r"(proveedor|vendedor|emisor)",
        r"(fornitore|venditore|emittente|cedente)",
        r"(fornecedor|emitente|prestador)",
    ),
    "customer": (
        r"(bill to|billed to|invoice to|sold to|customer|client|ship to|deliver to|recipient|buyer|attention|attn|"
        r"purchaser|to)",
        r"(rechnungsempfanger|kunde|empfanger|rechnung an|lieferadresse|rechnungsadresse|an|auftraggeber)",
        r"(factureer aan|klant|afnemer|factuur aan|geleverd aan|aan|factuuradres|afleveradres)",
        r"(billing address|invoice address|delivery address|shipping address|direccion de facturacion|"
        r"indirizzo di fatturazione|morada de faturacao|endereco de faturacao)",
        r"(facture a|facturer a|destinataire|acheteur|adresse de facturation|livrer a)",
        r"(cliente|facturar a|destinatario|comprador|facturado a)",
        r"(fatturare a|intestatario|spett|spettabile|committente|cessionario)",
        r"(faturar a|adquirente|faturado a)",
    ),
    "customer_number": (
        r"(customer|client|account|acct|kunden|klant|cliente) (number|no|nr|id|num|numero|code|codice|n)",
        r"(kundennummer|kundennr|klantnummer|klantnr|debitorennummer|kundenid)",
        r"(numero|n|no|code|codice|num) (de|du|del|do)? (client|cliente)",
    ),
    "order_number": (
        r"(po|p o|purchase order|order|your order|bestell|bestellung|auftrags?|commande|bon de commande|bestelling|"
        r"inkooporder|pedido|orden de compra|orden|ordine|ordine d acquisto|encomenda|ordem de compra) "
        r"(number|no|nr|num|numero|nummer|n|ref|reference|id)",
        r"(po|purchase order|bestellnummer|bestellnr|auftragsnummer|auftragsnr|bestelnummer|ordernummer|"
        r"ordernr|ponumber|pono|bestellnummer)",
        r"(numero|n|no|nr|num) (de|du|della|do|van)? (la|de)? (commande|pedido|ordine|encomenda|bestelling|order)",
    ),
    "order_date": (
        r"(order|po|purchase order|bestell|bestellung|auftrags|commande|bestel|bestelling|pedido|orden|ordine|"
        r"encomenda) (date|datum|data|fecha)",
        r"(bestelldatum|auftragsdatum|besteldatum|orderdatum)",
        r"date (de|of)? (la)? (commande|order)",
        r"(fecha|data) (de|del|dell|do|da)? (pedido|ordine|encomenda|orden)",
    ),
    "delivery_date": (
        r"(delivery|ship|shipping|service|supply) (date|datum)",
        r"(lieferdatum|leistungsdatum|liefertag|leverdatum|leveringsdatum)",
        r"date de livraison|fecha de entrega|data di consegna|data de entrega|data consegna",
    ),
    "quote_date": (
        r"(quote|quotation|offer|estimate|angebots|offerte|presupuesto|preventivo|orcamento) (date|datum|data|fecha)",
        r"(angebotsdatum|offertedatum|date du devis|date de devis|date de l offre|fecha del presupuesto|"
        r"fecha de presupuesto|data del preventivo|data do orcamento)",
    ),
    "date": (r"(date|datum|data|fecha|dated|le|dd)",),
    "reference": (
        r"(ref|reference|referenz|your ref|our ref|unser zeichen|ihr zeichen|votre reference|notre reference|"
        r"referentie|kenmerk|referencia|riferimento|referencia)",
    ),
    "number": (r"(no|nr|n|number|num|nummer|numero|nro|id)",),
    "page": (r"(page|seite|pagina|blz|pag|blad) (\d+)?( of| von| de| di| van)?( \d+)?",),
    "quantity": (r"(qty|quantity|menge|anzahl|quantite|qte|aantal|cantidad|cant|quantita|qta|quantidade|qtd|units)",),
    "unit_price": (
        r"(unit price|price|rate|unit cost|preis|einzelpreis|e preis|stuckpreis|prix unitaire|prix|pu|prijs|"
        r"stukprijs|eenheidsprijs|precio|precio unitario|prezzo|prezzo unitario|preco|preco unitario|valor unitario)",
    ),
    "line_amount": (r"(amount|betrag|montant|bedrag|importe|importo|valor|line total|gesamtpreis|totaal prijs)",),
    "description": (
        r"(description|item|items|product|service|beschreibung|bezeichnung|artikel|leistung|designation|libelle|"
        r"omschrijving|artikelomschrijving|descripcion|concepto|descrizione|articolo|descricao|artigo)",
    ),
    "tax_id": (
        r"(iban|bic|swift|vat no|vat id|vat number|vat reg no|tax id|ein|ust idnr|ustidnr|ust id|steuernummer|"
        r"steuer nr|tva intracom|no tva|n tva|btw nummer|btw nr|btwnr|kvk|nif|cif|partita iva|p iva|piva|"
        r"codice fiscale|nipc|siret|siren)",
    ),
    "contact": (r"(tel|telefon|telephone|phone|fax|email|e mail|mail|web|www|website|mobile|mob|gsm)",),
    "terms": (
        r"(terms|payment terms|zahlungsbedingungen|conditions de paiement|betalingsvoorwaarden|condiciones de pago|"
        r"condizioni di pagamento|condicoes de pagamento)",
    ),
}

#: Every concept ``concept`` gives.
CONCEPTS = tuple(_LABELS)

#: The most words a label has.
_LONGEST = 6


def _compile() -> list[tuple[str, re.Pattern[str]]]:
    compiled = []
    for name, patterns in _LABELS.items():
        for pattern in patterns:
            # words separated by single spaces; an optional group "( x)?" may be absent
            compiled.append((name, re.compile(r"(?:^| )(?:" + pattern.replace(" (", " ?(") + r")$")))
    return compiled


_PATTERNS = _compile()


_ELISION = re.compile(r"^(?:d|l|qu|dell|all|nell|sull)['’](.+)$")


@functools.lru_cache(maxsize=65536)
def label_word(text: str) -> str:
    """A word as labels are compared: lower case, no accents, letters and digits only (``N°`` is ``no``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss").replace("°", "o"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    elided = _ELISION.match(plain)  # "d'émission", "l'échéance": the word after the article
    if elided:
        plain = elided.group(1)
    if plain in ("#", "no.", "n.", "nr.", "n:"):
        return "no"
    return "".join(c for c in plain if c.isalnum())


@functools.lru_cache(maxsize=65536)
def _concept_of(phrase: str) -> str | None:
    best: tuple[int, str] | None = None
    for name, pattern in _PATTERNS:
        found = pattern.search(phrase)
        if found and (best is None or found.end() - found.start() > best[0]):
            best = (found.end() - found.start(), name)
    return None if best is None else best[1]


def concept(words: Sequence[str]) -> str | None:
    """The concept of the label the words end with (``["Rechnungs-Nr."]`` is ``invoice_number``), or None.

    ``words`` are the words before a value, in page order (the label's last word last). Words that are no
    letters or digits (``:``, ``-``) are skipped.
    """
    plain = [w for w in (label_word(word) for word in words[-_LONGEST:]) if w]
    if not plain:
        return None
    return _concept_of(" ".join(plain[-_LONGEST:]))


def concepts_in(words: Sequence[str]) -> list[str]:
    """Every concept named among the words (each once, in the order their labels end), for a block of text
    such as a table's header row."""
    plain = [w for w in (label_word(word) for word in words) if w]
    found: list[str] = []
    for end in range(1, len(plain) + 1):
        name = _concept_of(" ".join(plain[max(0, end - _LONGEST):end]))
        if name is not None and name not in found:
            found.append(name)
    return found


#: What a document calls itself in its title, by kind: whose name stands where differs (an invoice's
#: letterhead is its vendor, a purchase order's is its buyer).
_TITLES: dict[str, str] = {
    "invoice": r"(tax )?(invoice|bill|rechnung|gutschrift|facture|factuur|factura|fattura|fatura|nota fiscal|"
               r"credit note|avoir|creditnota|proforma|pro forma)( no| nr| n)?",
    "order": r"(purchase order|order|po|bestellung|auftrag|bon de commande|commande|bestelling|inkooporder|"
             r"bestelbon|pedido|orden de compra|orden|ordine|ordine d acquisto|ordine di acquisto|encomenda|"
             r"nota de encomenda|ordem de compra)( no| nr| n)?",
    "receipt": r"(receipt|sales receipt|quittung|kassenbon|kassenbeleg|beleg|recu|ticket|kassabon|bon|recibo|"
               r"ticket de compra|ricevuta|scontrino|talao|talao de compra)( no| nr| n)?",
}
_TITLE_PATTERNS = {kind: re.compile(r"^" + pattern + r"$") for kind, pattern in _TITLES.items()}
#: Every kind ``document_kind`` gives.
DOCUMENT_KINDS = tuple(_TITLES)


def document_kind(lines: Sequence[Sequence[str]]) -> str | None:
    """What the document is (``invoice``, ``order``, ``receipt``): from the first of ``lines`` (each its words,
    top to bottom) that is a title alone (``RECHNUNG``, ``Bon de commande``), else from the first that starts
    with one followed by its number (a letter's subject line: ``Rechnung Nr. 2023-17``); None if none does."""
    plain_lines = [[w for w in (label_word(word) for word in words) if w] for words in lines]
    for plain in plain_lines:
        if plain and len(plain) <= 4:
            found = _title(plain)
            if found is not None:
                return found
    for plain in plain_lines:
        for length in range(1, min(3, len(plain) - 1) + 1):
            after = plain[length]
            if after in _NUMBER_WORDS or any(c.isdigit() for c in after) or _concept_of(after) in (
                    "invoice_number", "order_number", "number"):  # "FACTUUR Factuurnr. F-17-66244"
                found = _title(plain[:length])
                if found is not None:
                    return found
    return None


_NUMBER_WORDS = frozenset({"no", "nr", "n", "nro", "number", "nummer", "numero", "num"})


def _title(plain: Sequence[str]) -> str | None:
    phrase = " ".join(plain)
    for kind, pattern in _TITLE_PATTERNS.items():
        if pattern.match(phrase):
            return kind
    return None
