#!/usr/bin/env python3
"""Make documents as users bring them: invoices, purchase orders and receipts in several layouts and
languages, clean, scanned, photographed with a phone, or as two-page PDFs, each with its annotated fields.

    python scripts/make_documents.py --out /tmp/docs                       # 60 training, 40 test documents
    python scripts/make_documents.py --out /tmp/docs --train 6 --test 4 --seed 3 \\
        --languages de,fr --layouts grid,two_column --variations scanned,pdf

For measuring OCR models on what they will meet (``scripts/bench_ocr.py``), where
``scripts/make_invoices.py`` makes the project's clean English invoices. Every document has the fields
of make_invoices (invoice_number, invoice_date, due_date, vendor_name, customer_name, total_amount;
receipts have no due date); for a purchase order they are the order number, the order date, the
delivery date, the supplier, the buyer and the order total.

- layouts (LAYOUTS): ``classic`` (issuer top left, facts top right, label before value), ``two_column``
  (issuer left, a label/value table right), ``grid`` (a ruled grid of cells, each label above its
  value), ``label_below`` (values in a row, each with a small label under it, a boxed total),
  ``letter`` (a business letter: a sender line, an address window without labels, the number in the
  subject line, the due date in a sentence), ``banner`` (issuer centred over a rule, label above value
  at the right), ``receipt`` (a narrow till receipt, label left and value right);
- languages (LANGUAGES): en, de, fr, nl, es, each with its own label words, date forms (``7. Mai 2014``,
  ``02 Juillet 2015``, ``07.05.2014``, ``2014-05-07``), amount forms (``1.234,56 €``, ``1 234,56 €``,
  ``€4.904,94``, ``$1,234.56``) and names and addresses with their letters (Bürobedarf, Gartenstraße);
- variations (VARIATIONS): ``clean`` (drawn at 100 dpi, PNG), ``scanned`` (150 dpi, rotated 1-4
  degrees, one in five also by 90 or 180, blur, noise, JPEG quality ~40), ``photo`` (a phone photo: the
  page on a darker table, in perspective, under uneven light, colour JPEG), ``pdf`` (two pages at 150
  dpi, the line items running on to page 2, the total and sometimes the due date on page 2); on request
  (``--variations ...,scanned_pdf``) a PDF of scanned pages; ``--pdf-pages N`` makes PDFs of about N pages
  (the line items fill them; ``--variations scanned_pdf --pdf-pages 150 --train 1 --test 0``: one long scan).

Layout: ``OUT/train/`` and ``OUT/test/`` hold ``NNN_KIND_LAYOUT_LANG_VARIATION.{png,jpg,pdf}``, each with
its annotation ``.json`` in the Nanonets OCR form (``{"filename", "object": [{"name", "ocr_text",
"bndbox", "page"}]}``; boxes in pixels of the stored page: of a PDF's page rendered at 150 dpi, "page"
counting from 0). ``OUT/manifest.json`` lists every document with its split, kind, layout, language,
Tesseract language, variation and pages; ``OUT/README.md`` says how it was made.

The same options give byte-identical files: each document draws from its own generator seeded by (seed,
split, number), and nothing depends on the clock.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import random
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_invoices import Font, Fonts, Overlap, Page, available_families  # noqa: E402

DEFAULT_SEED = 33
DEFAULT_TRAIN = 60
DEFAULT_TEST = 40
FIELDS = ("invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "total_amount")
#: Pixels around a value's ink in its annotated box (after any transform of the page).
BOX_MARGIN = 2
#: Free space kept around every field's box (no other ink within it), in pixels at 100 dpi.
CLEARANCE = 6
#: Least horizontal space between two texts on a line, in pixels at 100 dpi.
TEXT_GAP = 10
#: Page sizes in inches.
PAGE_INCHES = {"letter": (8.5, 11.0), "a4": (8.27, 11.69)}
#: Dots per inch each variation is drawn at (a PDF's pages are stored at the server's 150 dpi).
VARIATION_DPI = {"clean": 100, "scanned": 150, "photo": 150, "pdf": 150, "scanned_pdf": 150}
VARIATIONS = ("clean", "scanned", "photo", "pdf")
#: Variations made only when asked for (--variations): a PDF of scanned pages.
EXTRA_VARIATIONS = ("scanned_pdf",)
PDF_VARIATIONS = ("pdf", "scanned_pdf")
KINDS = ("invoice", "purchase_order")
Box = tuple[int, int, int, int]


# --- languages ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Language:
    """A language's words and forms: labels per kind and field, dates, amounts, names and addresses."""

    code: str
    tesseract: str
    paper: str
    labels: dict[str, dict[str, list[str]]]  # kind -> field -> label words (vendor_name: the PO's supplier label)
    titles: dict[str, list[str]]
    months: list[str]
    date_forms: list[str]  # iso, dmy., dmy/, mdy/, dmy-, d. Month, dd Month, d Month, Mon d, d de month
    amount_forms: list[tuple[str, str, str, str]]  # thousands, decimal, prefix, suffix
    head: tuple[str, str, str, str]  # description, quantity, unit price, amount
    subtotal: list[str]
    tax: list[str]  # with {rate}
    page: str  # with {n}, {m}
    carried: str
    customer_no: list[str]
    other_date: dict[str, list[str]]
    due_sentence: dict[str, str]
    greeting: list[str]
    footers: list[str]
    items: list[str]
    company: Callable[[random.Random], str]
    person: Callable[[random.Random], str]
    address: Callable[[random.Random], list[str]]
    number_prefix: dict[str, list[str]]
    number_word: str  # "No.", "Nr.", "n°": after a title in a letter's subject line


def _pick(words: Sequence[str]) -> Callable[[random.Random], str]:
    return lambda rng: rng.choice(words)


def _en_company(rng: random.Random) -> str:
    first = ["Acme", "Northwind", "Bluestone", "Redwood", "Summit", "Harbor", "Granite", "Silver Oak", "Pioneer",
             "Lakeside", "Evergreen", "Atlas", "Beacon", "Crescent", "Ironbridge", "Keystone"]
    second = ["Supply", "Logistics", "Systems", "Consulting", "Industries", "Trading", "Printing", "Foods",
              "Electric", "Software", "Builders", "Medical"]
    return f"{rng.choice(first)} {rng.choice(second)} {rng.choice(['Inc.', 'LLC', 'Ltd', 'Co.', 'Corp.'])}"


def _en_person(rng: random.Random) -> str:
    return (f"{rng.choice(['Maria', 'James', 'Linda', 'Robert', 'Susan', 'David', 'Karen', 'Emily', 'Daniel'])} "
            f"{rng.choice(['Lopez', 'Smith', 'Johnson', 'Brown', 'Garcia', 'Miller', 'Davis', 'Wilson', 'Clark'])}")


def _en_address(rng: random.Random) -> list[str]:
    street = rng.choice(["Main Street", "Oak Avenue", "Market Street", "Elm Road", "Park Lane", "River Drive",
                         "Commerce Way", "Industrial Blvd"])
    city = rng.choice(["Springfield, IL", "Portland, OR", "Austin, TX", "Denver, CO", "Madison, WI", "Boise, ID"])
    return [f"{rng.randrange(10, 9999)} {street}", f"{city} {rng.randrange(10000, 99999)}"]


def _de_company(rng: random.Random) -> str:
    first = ["Müller", "Schäfer", "Weiß", "Köhler", "Krüger", "Groß", "Löwe", "Hoffmann", "Schröder", "Bäumer"]
    second = ["Bürobedarf", "Druckerei", "Gartenbau", "Elektrotechnik", "Logistik", "Maschinenbau", "Holzhandel",
              "Bäckerei", "Getränkehandel", "Möbelwerkstätten"]
    suffix = ["GmbH", "AG", "KG", "GmbH & Co. KG", "e.K."]
    return f"{rng.choice(first)} {rng.choice(second)} {rng.choice(suffix)}"


def _de_person(rng: random.Random) -> str:
    return (f"{rng.choice(['Jürgen', 'Jörg', 'Günter', 'Käthe', 'Anna', 'Lukas', 'Sören', 'Bärbel', 'Uwe'])} "
            f"{rng.choice(['Müller', 'Schmidt', 'Weiß', 'Groß', 'Fuchs', 'Höfer', 'Krämer', 'Schulz', 'Jäger'])}")


def _de_address(rng: random.Random) -> list[str]:
    street = rng.choice(["Gartenstraße", "Hauptstraße", "Königsallee", "Mühlenweg", "Schloßplatz",
                         "Bahnhofstraße", "Lindenstraße", "Am Rosengarten"])
    city = rng.choice(["10115 Berlin", "80331 München", "50667 Köln", "20095 Hamburg", "60311 Frankfurt am Main",
                       "70173 Stuttgart", "40213 Düsseldorf", "90402 Nürnberg"])
    return [f"{street} {rng.randrange(1, 140)}", city]


def _fr_company(rng: random.Random) -> str:
    first = ["Électricité", "Fournitures de Bureau", "Bâtiment", "Imprimerie", "Boulangerie", "Menuiserie",
             "Transports", "Informatique"]
    second = ["Lefèvre", "Dupré", "Bérard", "Chevalier", "Gauthier", "Mercier", "Rousseau", "Fournier"]
    return f"{rng.choice(first)} {rng.choice(second)} {rng.choice(['SARL', 'SA', 'SAS', '& Fils', 'EURL'])}"


def _fr_person(rng: random.Random) -> str:
    return (f"{rng.choice(['Hélène', 'François', 'Amélie', 'Jérôme', 'Céline', 'Loïc', 'Noémie', 'Benoît'])} "
            f"{rng.choice(['Lefèvre', 'Mercier', 'Dubois', 'Moreau', 'Girard', 'Bonnet', 'Faure', 'Légrand'])}")


def _fr_address(rng: random.Random) -> list[str]:
    street = rng.choice(["rue de l'Église", "avenue des Champs-Élysées", "boulevard Saint-Michel",
                         "rue du Château", "place de la République", "chemin des Prés"])
    city = rng.choice(["75008 Paris", "69002 Lyon", "13001 Marseille", "31000 Toulouse", "44000 Nantes",
                       "67000 Strasbourg", "59800 Lille"])
    return [f"{rng.randrange(1, 120)} {street}", city]


def _nl_company(rng: random.Random) -> str:
    first = ["Bakkerij", "Drukkerij", "Installatiebedrijf", "Transportbedrijf", "Kantoorartikelen", "Houthandel"]
    second = ["van der Berg", "de Vries", "Jansen", "Visser", "Bakker", "van Dijk", "Smit", "de Jong"]
    return f"{rng.choice(first)} {rng.choice(second)} {rng.choice(['B.V.', 'N.V.', 'V.O.F.'])}"


def _nl_person(rng: random.Random) -> str:
    return (f"{rng.choice(['Joost', 'Sanne', 'Pieter', 'Femke', 'Daan', 'Ingrid', 'Bram', 'Mieke'])} "
            f"{rng.choice(['van der Berg', 'de Vries', 'Jansen', 'Visser', 'Bakker', 'van Dijk', 'Smit'])}")


def _nl_address(rng: random.Random) -> list[str]:
    street = rng.choice(["Keizersgracht", "Dorpsstraat", "Kerkstraat", "Molenweg", "Prinsengracht", "Stationsplein"])
    city = rng.choice(["1015 CJ Amsterdam", "3011 AB Rotterdam", "3511 LN Utrecht", "2511 CV Den Haag",
                       "5611 AZ Eindhoven"])
    return [f"{street} {rng.randrange(1, 400)}", city]


def _es_company(rng: random.Random) -> str:
    first = ["Suministros", "Papelería", "Construcciones", "Transportes", "Electricidad", "Informática"]
    second = ["Peña", "Muñoz", "Ibáñez", "García", "Martínez", "Núñez", "Sánchez", "Gómez"]
    return f"{rng.choice(first)} {rng.choice(second)} {rng.choice(['S.L.', 'S.A.', 'S.L.U.'])}"


def _es_person(rng: random.Random) -> str:
    return (f"{rng.choice(['José', 'María', 'Andrés', 'Lucía', 'Íñigo', 'Begoña', 'Sofía', 'Martín'])} "
            f"{rng.choice(['Peña', 'Muñoz', 'Ibáñez', 'García', 'Núñez', 'Sánchez', 'Gómez', 'Díaz'])}")


def _es_address(rng: random.Random) -> list[str]:
    street = rng.choice(["Calle de Alcalá", "Avenida de la Constitución", "Plaza Mayor", "Calle Mayor",
                         "Paseo de Gracia", "Calle del Príncipe"])
    city = rng.choice(["28014 Madrid", "08007 Barcelona", "41001 Sevilla", "46002 Valencia", "48001 Bilbao"])
    return [f"{street}, {rng.randrange(1, 200)}", city]


LANGUAGES: dict[str, Language] = {
    "en": Language(
        code="en", tesseract="eng", paper="letter",
        labels={
            "invoice": {"invoice_number": ["Invoice No.", "Invoice #", "Invoice Number", "Invoice No:"],
                        "invoice_date": ["Invoice Date", "Date", "Date of Issue", "Issued"],
                        "due_date": ["Due Date", "Payment Due", "Due By"],
                        "customer_name": ["Bill To", "Customer", "Billed To"],
                        "total_amount": ["Total", "Total Due", "Amount Due", "Balance Due"]},
            "purchase_order": {"invoice_number": ["PO Number", "Purchase Order No.", "Order No."],
                               "invoice_date": ["Order Date", "PO Date", "Date"],
                               "due_date": ["Delivery Date", "Deliver By", "Required By"],
                               "vendor_name": ["Vendor", "Supplier"],
                               "total_amount": ["Total", "Order Total", "Grand Total"]},
            "receipt": {"invoice_number": ["Receipt No.", "Receipt #", "Trans. No."],
                        "invoice_date": ["Date", "Date/Time"],
                        "customer_name": ["Customer", "Sold To"],
                        "total_amount": ["TOTAL", "Total", "Amount Paid"]},
        },
        titles={"invoice": ["INVOICE", "Invoice", "TAX INVOICE"],
                "purchase_order": ["PURCHASE ORDER", "Purchase Order"],
                "receipt": ["RECEIPT", "Sales Receipt"]},
        months=["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December"],
        date_forms=["iso", "mdy/", "Mon d, y", "d Month y"],
        amount_forms=[(",", ".", "$", ""), (",", ".", "", ""), (",", ".", "USD ", ""), (",", ".", "£", "")],
        head=("Description", "Qty", "Unit Price", "Amount"), subtotal=["Subtotal", "Net"],
        tax=["Tax ({rate}%)", "VAT {rate}%", "Sales Tax"], page="Page {n} of {m}", carried="Continued",
        customer_no=["Customer No.", "Account No."], other_date={"invoice": ["Ship Date", "Order Date"],
                                                                 "purchase_order": ["Quote Date"]},
        due_sentence={"invoice": "Please pay by", "purchase_order": "Please deliver by"},
        greeting=["Dear customer, we invoice you for the following:", "Thank you for your order."],
        footers=["Thank you for your business!", "Questions? Contact our billing team.",
                 "Late payments are subject to a 1.5% monthly fee."],
        items=["Consulting services", "Office chairs", "Printer paper (box)", "Web hosting", "Software license",
               "Delivery fee", "Maintenance visit", "Network cables", "Toner cartridge", "Laptop stand",
               "Training session", "Cloud storage", "Desk lamp", "Support plan", "Filing cabinet", "Whiteboard"],
        company=_en_company, person=_en_person, address=_en_address,
        number_prefix={"invoice": ["INV-", "INV", "A-"], "purchase_order": ["PO-", "PO"], "receipt": ["R-", "TX"]},
        number_word="No.",
    ),
    "de": Language(
        code="de", tesseract="deu", paper="a4",
        labels={
            "invoice": {"invoice_number": ["Rechnungsnummer", "Rechnungsnr.", "Rechnung Nr.", "Beleg-Nr."],
                        "invoice_date": ["Rechnungsdatum", "Datum", "Belegdatum"],
                        "due_date": ["Fällig am", "Zahlbar bis", "Fälligkeitsdatum"],
                        "customer_name": ["Rechnungsempfänger", "Kunde", "Rechnung an"],
                        "total_amount": ["Gesamtbetrag", "Rechnungsbetrag", "Summe brutto", "Zu zahlen"]},
            "purchase_order": {"invoice_number": ["Bestellnummer", "Bestell-Nr.", "Bestellung Nr."],
                               "invoice_date": ["Bestelldatum", "Datum"],
                               "due_date": ["Liefertermin", "Lieferdatum", "Liefern bis"],
                               "vendor_name": ["Lieferant", "Auftragnehmer"],
                               "total_amount": ["Gesamtbetrag", "Bestellwert", "Summe"]},
            "receipt": {"invoice_number": ["Beleg-Nr.", "Bon-Nr.", "Quittung Nr."],
                        "invoice_date": ["Datum"], "customer_name": ["Kunde"],
                        "total_amount": ["SUMME", "Gesamt", "Zu zahlen"]},
        },
        titles={"invoice": ["RECHNUNG", "Rechnung"], "purchase_order": ["BESTELLUNG", "Bestellung"],
                "receipt": ["Kassenbeleg", "QUITTUNG"]},
        months=["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
                "November", "Dezember"],
        date_forms=["dmy.", "d. Month y", "iso", "dmy."],
        amount_forms=[(".", ",", "", " €"), (".", ",", "", " EUR"), (".", ",", "€", ""), (".", ",", "", ""),
                      (".", ",", "EUR ", "")],
        head=("Bezeichnung", "Menge", "Einzelpreis", "Gesamt"), subtotal=["Zwischensumme", "Nettobetrag"],
        tax=["MwSt. {rate}%", "USt. {rate} %", "zzgl. {rate}% MwSt."], page="Seite {n} von {m}", carried="Übertrag",
        customer_no=["Kundennummer", "Kunden-Nr."], other_date={"invoice": ["Lieferdatum", "Leistungsdatum"],
                                                                "purchase_order": ["Angebotsdatum"]},
        due_sentence={"invoice": "Zahlbar ohne Abzug bis", "purchase_order": "Bitte liefern Sie bis"},
        greeting=["Sehr geehrte Damen und Herren,", "vielen Dank für Ihren Auftrag. Wir berechnen:"],
        footers=["Vielen Dank für Ihren Einkauf!", "Bitte überweisen Sie den Betrag fristgerecht.",
                 "Es gelten unsere Allgemeinen Geschäftsbedingungen."],
        items=["Kopierpapier A4 (500 Blatt)", "Bürostuhl", "Wartung Heizungsanlage", "Beratung (Stunden)",
               "Druckerpatrone schwarz", "Versandkostenpauschale", "Schreibtischlampe", "Aktenschrank",
               "Softwarelizenz", "Montage vor Ort", "Netzwerkkabel 5 m", "Schulung Mitarbeiter", "Reinigung Büro",
               "Gärtnerarbeiten", "Kühlschrank", "Fußmatte"],
        company=_de_company, person=_de_person, address=_de_address,
        number_prefix={"invoice": ["RE-", "R", "RG-"], "purchase_order": ["BE-", "B"], "receipt": ["BON-", "Q"]},
        number_word="Nr.",
    ),
    "fr": Language(
        code="fr", tesseract="fra", paper="a4",
        labels={
            "invoice": {"invoice_number": ["Numéro de facture", "Facture n°", "N° de facture", "Réf. facture"],
                        "invoice_date": ["Date", "Date de facture", "Date d'émission"],
                        "due_date": ["Date d'échéance", "Échéance", "À payer avant le"],
                        "customer_name": ["Client", "Facturé à", "Destinataire"],
                        "total_amount": ["Total TTC", "Montant TTC", "Net à payer", "Total à payer"]},
            "purchase_order": {"invoice_number": ["Bon de commande n°", "N° de commande", "Commande n°"],
                               "invoice_date": ["Date de commande", "Date"],
                               "due_date": ["Date de livraison", "Livraison prévue"],
                               "vendor_name": ["Fournisseur"],
                               "total_amount": ["Total TTC", "Montant total"]},
            "receipt": {"invoice_number": ["Ticket n°", "Reçu n°"], "invoice_date": ["Date"],
                        "customer_name": ["Client"], "total_amount": ["TOTAL", "Total TTC", "À payer"]},
        },
        titles={"invoice": ["FACTURE", "Facture"], "purchase_order": ["BON DE COMMANDE", "Bon de commande"],
                "receipt": ["TICKET DE CAISSE", "Reçu"]},
        months=["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
                "novembre", "décembre"],
        date_forms=["dmy/", "dd Month y", "d month y", "iso"],
        amount_forms=[(" ", ",", "", " €"), (" ", ",", "", ""), (".", ",", "", " €"), ("", ",", "", " EUR")],
        head=("Désignation", "Qté", "Prix unitaire", "Montant"), subtotal=["Total HT", "Montant HT"],
        tax=["TVA {rate}%", "TVA ({rate} %)"], page="Page {n} sur {m}", carried="Report",
        customer_no=["N° client", "Code client"], other_date={"invoice": ["Date de livraison", "Date de commande"],
                                                              "purchase_order": ["Date du devis"]},
        due_sentence={"invoice": "À régler avant le", "purchase_order": "Livraison souhaitée avant le"},
        greeting=["Madame, Monsieur,", "Nous vous remercions de votre confiance."],
        footers=["Merci de votre confiance !", "Pénalités de retard : trois fois le taux d'intérêt légal.",
                 "TVA non applicable, article 293 B du CGI."],
        items=["Ramette papier A4", "Chaise de bureau", "Maintenance chaudière", "Conseil (heures)",
               "Cartouche d'encre noire", "Frais de port", "Lampe de bureau", "Armoire à dossiers",
               "Licence logiciel", "Installation sur site", "Câble réseau 5 m", "Formation du personnel",
               "Nettoyage des locaux", "Élagage des arbres", "Réfrigérateur", "Paillasson"],
        company=_fr_company, person=_fr_person, address=_fr_address,
        number_prefix={"invoice": ["F", "FA-", "FAC-"], "purchase_order": ["BC-", "CMD-"], "receipt": ["T", "TK-"]},
        number_word="n°",
    ),
    "nl": Language(
        code="nl", tesseract="nld", paper="a4",
        labels={
            "invoice": {"invoice_number": ["Factuurnummer", "Factuurnr.", "Factuur nr."],
                        "invoice_date": ["Factuurdatum", "Datum"],
                        "due_date": ["Vervaldatum", "Te betalen voor"],
                        "customer_name": ["Klant", "Factuuradres", "Aan"],
                        "total_amount": ["Totaal", "Te betalen", "Totaalbedrag"]},
            "purchase_order": {"invoice_number": ["Inkoopordernummer", "Bestelnummer"],
                               "invoice_date": ["Besteldatum", "Datum"],
                               "due_date": ["Leverdatum", "Leveren voor"],
                               "vendor_name": ["Leverancier"],
                               "total_amount": ["Totaal", "Totaalbedrag"]},
            "receipt": {"invoice_number": ["Bonnummer", "Bon nr."], "invoice_date": ["Datum"],
                        "customer_name": ["Klant"], "total_amount": ["TOTAAL", "Te betalen"]},
        },
        titles={"invoice": ["FACTUUR", "Factuur"], "purchase_order": ["INKOOPORDER", "Bestelbon"],
                "receipt": ["KASSABON", "Bon"]},
        months=["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
                "november", "december"],
        date_forms=["dmy-", "d month y", "iso"],
        amount_forms=[(".", ",", "€ ", ""), (".", ",", "€", ""), (".", ",", "", ""), (".", ",", "EUR ", "")],
        head=("Omschrijving", "Aantal", "Prijs", "Bedrag"), subtotal=["Subtotaal", "Totaal excl. BTW"],
        tax=["BTW {rate}%", "BTW ({rate}%)"], page="Pagina {n} van {m}", carried="Transport",
        customer_no=["Klantnummer", "Debiteurnr."], other_date={"invoice": ["Leverdatum", "Orderdatum"],
                                                                "purchase_order": ["Offertedatum"]},
        due_sentence={"invoice": "Gelieve te betalen voor", "purchase_order": "Graag leveren voor"},
        greeting=["Geachte heer/mevrouw,", "Hartelijk dank voor uw bestelling."],
        footers=["Bedankt voor uw aankoop!", "Betaling binnen 30 dagen na factuurdatum.",
                 "Op al onze leveringen zijn de algemene voorwaarden van toepassing."],
        items=["Printpapier A4", "Bureaustoel", "Onderhoud cv-ketel", "Advies (uren)", "Inktcartridge zwart",
               "Verzendkosten", "Bureaulamp", "Archiefkast", "Softwarelicentie", "Installatie op locatie",
               "Netwerkkabel 5 m", "Training personeel", "Schoonmaak kantoor", "Snoeiwerk", "Koelkast", "Deurmat"],
        company=_nl_company, person=_nl_person, address=_nl_address,
        number_prefix={"invoice": ["F-", "FAC", "NL-"], "purchase_order": ["IO-", "BST-"], "receipt": ["B", "KB-"]},
        number_word="nr.",
    ),
    "es": Language(
        code="es", tesseract="spa", paper="a4",
        labels={
            "invoice": {"invoice_number": ["Número de factura", "Factura n.º", "N.º factura"],
                        "invoice_date": ["Fecha", "Fecha de factura", "Fecha de emisión"],
                        "due_date": ["Fecha de vencimiento", "Vencimiento"],
                        "customer_name": ["Cliente", "Facturar a"],
                        "total_amount": ["Total", "Importe total", "Total a pagar"]},
            "purchase_order": {"invoice_number": ["Orden de compra n.º", "N.º de pedido"],
                               "invoice_date": ["Fecha de pedido", "Fecha"],
                               "due_date": ["Fecha de entrega", "Entregar antes del"],
                               "vendor_name": ["Proveedor"],
                               "total_amount": ["Total", "Importe total"]},
            "receipt": {"invoice_number": ["Ticket n.º", "Recibo n.º"], "invoice_date": ["Fecha"],
                        "customer_name": ["Cliente"], "total_amount": ["TOTAL", "Total a pagar"]},
        },
        titles={"invoice": ["FACTURA", "Factura"], "purchase_order": ["ORDEN DE COMPRA", "PEDIDO"],
                "receipt": ["TICKET", "Recibo"]},
        months=["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
                "noviembre", "diciembre"],
        date_forms=["dmy/", "d de month de y", "iso"],
        amount_forms=[(".", ",", "", " €"), ("", ",", "", " €"), (".", ",", "€", "")],
        head=("Descripción", "Cant.", "Precio unitario", "Importe"), subtotal=["Base imponible", "Subtotal"],
        tax=["IVA {rate}%", "IVA ({rate} %)"], page="Página {n} de {m}", carried="Suma anterior",
        customer_no=["N.º cliente", "Código cliente"], other_date={"invoice": ["Fecha de entrega", "Fecha de pedido"],
                                                                  "purchase_order": ["Fecha del presupuesto"]},
        due_sentence={"invoice": "Pagar antes del", "purchase_order": "Entregar antes del"},
        greeting=["Estimados señores:", "Les agradecemos su pedido."],
        footers=["¡Gracias por su compra!", "Pago por transferencia bancaria.",
                 "Inscrita en el Registro Mercantil de Madrid."],
        items=["Papel A4 (500 hojas)", "Silla de oficina", "Mantenimiento caldera", "Consultoría (horas)",
               "Cartucho de tinta negra", "Gastos de envío", "Lámpara de escritorio", "Archivador",
               "Licencia de software", "Instalación in situ", "Cable de red 5 m", "Formación del personal",
               "Limpieza de oficina", "Poda de árboles", "Frigorífico", "Felpudo"],
        company=_es_company, person=_es_person, address=_es_address,
        number_prefix={"invoice": ["FAC-", "A/", "F"], "purchase_order": ["OC-", "PED-"], "receipt": ["T", "TK-"]},
        number_word="n.º",
    ),
}


#: How a domain name spells the letters of a company's name.
ASCII = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ê": "e", "â": "a", "à": "a", "ç": "c",
         "ï": "i", "î": "i", "ô": "o", "û": "u", "ñ": "n", "á": "a", "í": "i", "ó": "o", "ú": "u"}


def format_date(day: dt.date, form: str, lang: Language) -> str:
    """``day`` in one of a language's forms (Language.date_forms)."""
    month = lang.months[day.month - 1]
    if form == "iso":
        return day.isoformat()
    if form == "dmy.":
        return f"{day.day:02d}.{day.month:02d}.{day.year}"
    if form == "dmy/":
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    if form == "mdy/":
        return f"{day.month:02d}/{day.day:02d}/{day.year}"
    if form == "dmy-":
        return f"{day.day:02d}-{day.month:02d}-{day.year}"
    if form == "d. Month y":
        return f"{day.day}. {month} {day.year}"
    if form == "dd Month y":
        return f"{day.day:02d} {month.capitalize()} {day.year}"
    if form == "d month y":
        return f"{day.day} {month} {day.year}"
    if form == "Mon d, y":
        return f"{month[:3]} {day.day}, {day.year}"
    if form == "d Month y":
        return f"{day.day} {month} {day.year}"
    if form == "d de month de y":
        return f"{day.day} de {month} de {day.year}"
    raise ValueError(f"unknown date form {form!r}")


def format_amount(cents: int, form: tuple[str, str, str, str]) -> str:
    """An amount of cents with thousands and decimal separators, a currency before or after."""
    thousands, decimal, prefix, suffix = form
    units = f"{cents // 100:,}".replace(",", thousands)
    return f"{prefix}{units}{decimal}{cents % 100:02d}{suffix}"


# --- content --------------------------------------------------------------------------------------

@dataclass
class Content:
    """What one document says: its kind and language, the field values and everything around them."""

    kind: str
    lang: Language
    values: dict[str, str]
    labels: dict[str, str]
    title: str
    issuer: str  # the field drawn as the letterhead: vendor_name, or customer_name (the buyer) on an order
    recipient: str
    addresses: dict[str, list[str]]
    contact: str
    items: list[tuple[str, str, str, str]]  # description, quantity, unit price, amount
    subtotal_label: str
    subtotal: str
    tax_label: str
    tax: str
    extra: list[tuple[str, str]]  # distractor facts: (label, value)
    bank: str


def _identifier(rng: random.Random, lang: Language, kind: str, year: int) -> str:
    """A document number: always with a letter, never a string that reads as an amount or a date."""
    prefix = rng.choice(lang.number_prefix[kind])
    style = rng.randrange(3)
    if style == 0:
        return f"{prefix}{year}-{rng.randrange(1, 9999):04d}"
    if style == 1:
        return f"{prefix}{rng.randrange(10000, 999999)}"
    return f"{prefix}{year % 100:02d}-{rng.randrange(100, 99999):05d}"


def make_content(rng: random.Random, lang: Language, kind: str, n_items: int) -> Content:
    issued = dt.date(2013, 1, 1) + dt.timedelta(days=rng.randrange(13 * 365))
    due = issued + dt.timedelta(days=rng.choice([7, 10, 14, 30, 45, 60]))
    date_form = rng.choice(lang.date_forms)
    money = rng.choice(lang.amount_forms)
    items = []
    subtotal = 0
    descriptions = [rng.choice(lang.items) for _ in range(n_items)] if n_items > len(lang.items) \
        else rng.sample(lang.items, n_items)
    for description in descriptions:
        quantity = rng.randint(1, 12)
        unit = rng.randrange(150, 90000 if kind != "receipt" else 4000)
        items.append((description, str(quantity), format_amount(unit, money), format_amount(quantity * unit, money)))
        subtotal += quantity * unit
    rate = rng.choice([5, 7, 10, 19, 20, 21])
    tax = subtotal * rate // 100
    label_kind = kind if kind in lang.labels else "invoice"
    labels = {name: rng.choice(words) for name, words in lang.labels[label_kind].items()}
    vendor = lang.company(rng)
    customer = lang.person(rng) if rng.random() < 0.4 and kind != "purchase_order" else lang.company(rng)
    while customer == vendor:
        customer = lang.company(rng)
    issuer_name = customer if kind == "purchase_order" else vendor
    domain = "".join(ASCII.get(ch, ch) for ch in issuer_name.split()[-2 if len(issuer_name.split()) > 2 else 0].lower())
    domain = "".join(ch for ch in domain if ch.isascii() and ch.isalpha()) or "mail"
    contact = rng.choice([f"Tel. +{rng.randrange(30, 49)} {rng.randrange(10, 99)} {rng.randrange(100000, 999999)}",
                          f"info@{domain}.example", f"www.{domain}.example"])
    values = {
        "invoice_number": _identifier(rng, lang, kind, issued.year),
        "invoice_date": format_date(issued, date_form, lang),
        "due_date": format_date(due, date_form, lang),
        "vendor_name": vendor,
        "customer_name": customer,
        "total_amount": format_amount(subtotal + tax, money),
    }
    if kind == "receipt":
        del values["due_date"]
    other = issued - dt.timedelta(days=rng.randrange(1, 25))
    extra = [(rng.choice(lang.customer_no), f"{rng.choice('KCD')}{rng.randrange(1000, 99999)}"),
             (rng.choice(lang.other_date.get(kind, lang.other_date["invoice"])), format_date(other, date_form, lang))]
    issuer = "customer_name" if kind == "purchase_order" else "vendor_name"
    recipient = "vendor_name" if kind == "purchase_order" else "customer_name"
    bank = f"IBAN {lang.code.upper()}{rng.randrange(10, 99)} {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)} " \
           f"{rng.randrange(1000, 9999)} {rng.randrange(10, 99)}"
    return Content(kind=kind, lang=lang, values=values, labels=labels, title=rng.choice(lang.titles[kind]),
                   issuer=issuer, recipient=recipient,
                   addresses={"vendor_name": lang.address(rng), "customer_name": lang.address(rng)},
                   contact=contact, items=items, subtotal_label=rng.choice(lang.subtotal),
                   subtotal=format_amount(subtotal, money),
                   tax_label=rng.choice(lang.tax).format(rate=rate), tax=format_amount(tax, money), extra=extra,
                   bank=bank)


# --- drawing --------------------------------------------------------------------------------------

class Sheet(Page):
    """One page being drawn at ``scale`` pixels per 100-dpi pixel: its image, ink boxes and field boxes (and,
    beyond make_invoices' pages, every text drawn)."""

    def __init__(self, width: int, height: int, scale: float, paper: int, ink: int) -> None:
        self.image = Image.new("L", (width, height), paper)
        super().__init__(ImageDraw.Draw(self.image), ink)
        self.width, self.height, self.scale = width, height, scale
        self.words: list[str] = []  # every text drawn, in order

    def text(self, x: float, y: float, text: str, font: Font, anchor: str = "la", name: str | None = None) -> Box:
        """Draw ``text`` with its ``anchor`` at (x, y); return its box (a field's: its exact ink)."""
        self.words.append(text)
        return super().text(x, y, text, font, anchor, name)

    def line(self, x0: float, y0: float, x1: float, y1: float, width: int = 1) -> None:
        self.draw.line([(x0, y0), (x1, y1)], fill=self.ink, width=width)
        self.boxes.append((int(min(x0, x1)) - width, int(min(y0, y1)) - width, int(max(x0, x1)) + width + 1,
                           int(max(y0, y1)) + width + 1))

    def rect(self, x0: float, y0: float, x1: float, y1: float, width: int = 1) -> None:
        for a, b, c, d in ((x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)):
            self.line(a, b, c, d, width)

    def check(self) -> None:
        """No two texts on a line nearer than TEXT_GAP; every field clear of other ink and inside the page."""
        gap, clear = TEXT_GAP * self.scale, CLEARANCE * self.scale
        for k, a in enumerate(self.texts):
            for b in self.texts[k + 1:]:
                if a[0] - gap < b[2] and b[0] < a[2] + gap and a[1] < b[3] and b[1] < a[3]:
                    raise Overlap(f"texts at {a} and {b} overlap")
        for name, (_, box) in self.fields.items():
            x0, y0, x1, y1 = box[0] - clear, box[1] - clear, box[2] + clear, box[3] + clear
            if x0 < 0 or y0 < 0 or x1 > self.width or y1 > self.height:
                raise Overlap(f"{name} too near the edge")
            for other in self.boxes:
                if other is box:
                    continue
                if other[0] < x1 and x0 < other[2] and other[1] < y1 and y0 < other[3]:
                    raise Overlap(f"{name} overlaps {other}")


@dataclass
class Style:
    """The look of one document (sizes in pixels of its own dpi) and where its pages are."""

    fonts: Fonts
    scale: float
    body: int
    small: int
    head: int
    title: int
    line: int
    labels_bold: bool
    colon: bool
    rng: random.Random
    sheets: list[Sheet] = field(default_factory=list)
    page_break: int | None = None  # the number of line items on page 1 of a two-page document
    max_pages: int = 1

    def u(self, value: float) -> int:
        """A length given in pixels at 100 dpi, in this document's pixels."""
        return round(value * self.scale)

    def jitter(self, amount: int = 15) -> int:
        return self.u(self.rng.randint(-amount, amount))

    def font(self, bold: bool = False, size: int | None = None) -> Font:
        return self.fonts.get(size or self.body, bold)

    def label_font(self) -> Font:
        return self.font(self.labels_bold)

    def label(self, words: str) -> str:
        return words + ":" if self.colon and not words.endswith((":", "#", "°", ".º")) else words


Layout = Callable[[Style, Content], None]


def _issuer_block(sheet: Sheet, s: Style, c: Content, x: int, y: int, anchor: str = "la") -> int:
    """The letterhead: the issuer's name, address and contact; return the y below."""
    sheet.text(x, y, c.values[c.issuer], s.font(True, s.head), anchor, name=c.issuer)
    y += s.head + s.head // 2
    for line in [*c.addresses[c.issuer], c.contact]:
        sheet.text(x, y, line, s.font(size=s.small), anchor)
        y += s.small + s.small // 2
    return y


def _recipient_block(sheet: Sheet, s: Style, c: Content, x: int, y: int, inline: bool, labelled: bool = True) -> int:
    """The recipient (the customer, or an order's supplier) under or after its label, with its address."""
    name = c.recipient
    if labelled and inline:
        box = sheet.text(x, y, s.label(c.labels[name]), s.label_font())
        sheet.text(box[2] + s.u(14), y, c.values[name], s.font(), name=name)
    else:
        if labelled:
            sheet.text(x, y, c.labels[name], s.label_font())
            y += s.line
        sheet.text(x, y, c.values[name], s.font(), name=name)
    y += s.line
    for line in c.addresses[name]:
        sheet.text(x, y, line, s.font(size=s.small))
        y += s.small + s.small // 2
    return y


def _facts(s: Style, c: Content, fields: Sequence[str], extras: int) -> list[tuple[str, str, str | None]]:
    """(label, value, field) rows of the document's facts, with ``extras`` distractor rows mixed in."""
    rows: list[tuple[str, str, str | None]] = [(c.labels[f], c.values[f], f) for f in fields if f in c.values]
    for label, value in c.extra[:extras]:
        rows.insert(s.rng.randint(1, len(rows)), (label, value, None))
    return rows


def _head_fields(s: Style) -> list[str]:
    """The fields of the header: the due date moves to page 2 on some two-page documents."""
    if s.max_pages > 1 and s.rng.random() < 0.4:
        return ["invoice_number", "invoice_date"]
    return ["invoice_number", "invoice_date", "due_date"]


def _facts_inline(sheet: Sheet, s: Style, rows: list[tuple[str, str, str | None]], right: int, y: int,
                  aligned: bool) -> int:
    """Label and value on one line, the block ending at ``right``: values in one column, or each after its label."""
    label_font, value_font = s.label_font(), s.font()
    labels = [s.label(label) for label, _, _ in rows]
    gap = s.u(18)
    label_w = max(int(label_font.getlength(label)) for label in labels)
    value_w = max(int(value_font.getlength(value)) for _, value, _ in rows)
    for label, (_, value, name) in zip(labels, rows, strict=True):
        if aligned:
            x = right - label_w - gap - value_w
            sheet.text(x, y, label, label_font)
            sheet.text(x + label_w + gap, y, value, value_font, name=name)
        else:
            sheet.text(right, y, value, value_font, "ra", name=name)
            sheet.text(right - value_font.getlength(value) - gap, y, label, label_font, "ra")
        y += s.line
    return y


def _facts_stacked(sheet: Sheet, s: Style, rows: list[tuple[str, str, str | None]], x: int, y: int,
                   anchor: str = "la") -> int:
    """Each label above its value, one pair under the other."""
    for label, value, name in rows:
        sheet.text(x, y, label, s.label_font(), anchor)
        y += s.line
        sheet.text(x, y, value, s.font(), anchor, name=name)
        y += s.line + s.body // 2
    return y


def _items(s: Style, c: Content, left: int, right: int, y: int) -> tuple[Sheet, int]:
    """The line items as a ruled table from ``y`` on the last sheet, running on to further sheets (at the page
    break, or where a page is full) up to ``s.max_pages``; return the sheet it ends on and the y below it."""
    sheet = s.sheets[-1]
    head = s.label_font()
    qty_x, unit_x = left + int((right - left) * 0.60), left + int((right - left) * 0.79)
    description, quantity, unit, amount = c.lang.head

    def header(sheet: Sheet, y: int) -> int:
        sheet.line(left, y - s.u(6), right, y - s.u(6))
        sheet.text(left + s.u(8), y, description, head)
        sheet.text(qty_x, y, quantity, head, "ra")
        sheet.text(unit_x, y, unit, head, "ra")
        sheet.text(right - s.u(8), y, amount, head, "ra")
        y += s.line + s.u(2)
        sheet.line(left, y - s.u(6), right, y - s.u(6))
        return y

    y = header(sheet, y)
    room = sheet.height - s.u(150)
    for k, row in enumerate(c.items):
        if s.max_pages > 1 and ((len(s.sheets) == 1 and k == s.page_break) or y + s.line > room):
            if len(s.sheets) >= s.max_pages:
                raise Overlap("more line items than pages")
            sheet = _new_sheet(s)
            y = s.u(60) + s.jitter(10)
            sheet.text(left, y, f"{c.title} {c.values['invoice_number']}", s.font(size=s.small))
            y += s.u(50)
            sheet.text(left + s.u(8), y, c.lang.carried, s.font(size=s.small))
            y = header(sheet, y + s.line + s.u(8))
        sheet.text(left + s.u(8), y, row[0], s.font())
        sheet.text(qty_x, y, row[1], s.font(), "ra")
        sheet.text(unit_x, y, row[2], s.font(), "ra")
        sheet.text(right - s.u(8), y, row[3], s.font(), "ra")
        y += s.line + s.u(4)
        if y > room + s.u(60):
            raise Overlap("the line items run off the page")
    sheet.line(left, y, right, y)
    return sheet, y + s.line


def _totals(sheet: Sheet, s: Style, c: Content, right: int, y: int, boxed: bool = False) -> int:
    """Subtotal and tax, then the total (the field) at the right; with ``boxed`` the total in a frame."""
    value_w = int(s.font(True).getlength(c.values["total_amount"])) + s.u(10)
    labels = [s.label(w) for w in (c.subtotal_label, c.tax_label, c.labels["total_amount"])]
    label_w = max(int(s.font(True).getlength(w)) for w in labels)
    label_x = right - value_w - s.u(30) - label_w
    for label, value in ((labels[0], c.subtotal), (labels[1], c.tax)):
        sheet.text(label_x, y, label, s.font())
        sheet.text(right, y, value, s.font(), "ra")
        y += s.line + s.u(2)
    y += s.u(8)
    if boxed:
        pad = s.u(12)
        sheet.rect(label_x - pad, y - pad, right + pad, y + s.body + pad, width=max(1, s.u(2)))
    else:
        sheet.line(label_x, y - s.u(6), right, y - s.u(6))
    sheet.text(label_x, y, labels[2], s.font(True))
    sheet.text(right, y, c.values["total_amount"], s.font(True), "ra", name="total_amount")
    return y + s.line + (s.u(14) if boxed else 0)


def _due_after_totals(sheet: Sheet, s: Style, c: Content, left: int, y: int) -> int:
    """On a two-page document whose header left it out, the due date as a labelled line under the totals."""
    if "due_date" in c.values and "due_date" not in s.sheets[0].fields and "due_date" not in sheet.fields:
        y += s.u(20)
        box = sheet.text(left, y, s.label(c.labels["due_date"]), s.label_font())
        sheet.text(box[2] + s.u(14), y, c.values["due_date"], s.font(), name="due_date")
        y += s.line
    return y


def _footer(sheet: Sheet, s: Style, c: Content, y: int, left: int) -> None:
    y = max(y + s.u(30), sheet.height - s.u(110) + s.jitter(8))
    sheet.text(left, y, s.rng.choice(c.lang.footers), s.font(size=s.small))
    if s.rng.random() < 0.6:
        sheet.text(left, y + s.line, c.bank, s.font(size=s.small))


def _new_sheet(s: Style) -> Sheet:
    first = s.sheets[0]
    sheet = Sheet(first.width, first.height, first.scale, first.image.getpixel((0, 0)), first.ink)  # type: ignore[arg-type]
    s.sheets.append(sheet)
    return sheet


def _end(s: Style, c: Content, left: int, right: int, y: int) -> None:
    """Items, totals, the due date if still missing, footer: the rest of a full-page layout."""
    sheet, y = _items(s, c, left, right, y)
    y = _totals(sheet, s, c, right, y + s.jitter(8), boxed=s.rng.random() < 0.3)
    y = _due_after_totals(sheet, s, c, left, y)
    _footer(sheet, s, c, y, left)


def layout_classic(s: Style, c: Content) -> None:
    """Issuer top left; title and facts (label before value) top right; the recipient under its label."""
    sheet = s.sheets[0]
    left, right = s.u(60) + s.jitter(), sheet.width - s.u(60) + s.jitter()
    y = _issuer_block(sheet, s, c, left, s.u(60) + s.jitter())
    title_y = s.u(60) + s.jitter()
    sheet.text(right, title_y, c.title, s.font(True, s.title), "ra")
    facts = _facts(s, c, _head_fields(s), s.rng.randint(0, 1))
    end = _facts_inline(sheet, s, facts, right, title_y + s.title + s.u(25), s.rng.random() < 0.5)
    y = max(y, end) + s.u(30) + s.jitter()
    y = _recipient_block(sheet, s, c, left + s.jitter(), y, inline=False)
    _end(s, c, left, right, y + s.u(40) + s.jitter())


def layout_two_column(s: Style, c: Content) -> None:
    """Issuer and recipient on the left; title and a label/value table of facts on the right."""
    sheet = s.sheets[0]
    left, right = s.u(60) + s.jitter(), sheet.width - s.u(60) + s.jitter()
    top = s.u(60) + s.jitter()
    y = _issuer_block(sheet, s, c, left, top)
    y = _recipient_block(sheet, s, c, left + s.jitter(), y + s.u(40) + s.jitter(), inline=s.rng.random() < 0.5)
    sheet.text(right, top, c.title, s.font(True, s.title), "ra")
    facts = _facts(s, c, _head_fields(s), s.rng.randint(1, 2))
    end = _facts_inline(sheet, s, facts, right, top + s.title + s.u(30), aligned=True)
    _end(s, c, left, right, max(y, end) + s.u(40) + s.jitter())


def layout_grid(s: Style, c: Content) -> None:
    """Issuer and title on top, the recipient, then a ruled grid: each cell a small label above its value."""
    sheet = s.sheets[0]
    left, right = s.u(60) + s.jitter(), sheet.width - s.u(60) + s.jitter()
    top = s.u(60) + s.jitter()
    y = _issuer_block(sheet, s, c, left, top)
    sheet.text(right, top, c.title, s.font(True, s.title), "ra")
    y = _recipient_block(sheet, s, c, left + s.jitter(), y + s.u(30), inline=False, labelled=s.rng.random() < 0.6)
    rows = _facts(s, c, _head_fields(s), s.rng.randint(1, 2))
    y += s.u(40) + s.jitter(10)
    cell_h = s.small + s.line + s.u(26)
    pad = s.u(10)
    step = (right - left) / len(rows)
    sheet.line(left, y, right, y)
    sheet.line(left, y + cell_h, right, y + cell_h)
    for k in range(len(rows) + 1):
        sheet.line(left + k * step, y, left + k * step, y + cell_h)
    for k, (label, value, name) in enumerate(rows):
        x = left + k * step + pad
        sheet.text(x, y + pad, label, s.font(s.labels_bold, s.small))
        sheet.text(x, y + pad + s.small + s.u(10), value, s.font(), name=name)
    _end(s, c, left, right, y + cell_h + s.u(50) + s.jitter())


def layout_label_below(s: Style, c: Content) -> None:
    """Issuer centred; the facts as values in a row, each with its small label under it; a boxed total."""
    sheet = s.sheets[0]
    left, right = s.u(60) + s.jitter(), sheet.width - s.u(60) + s.jitter()
    centre = sheet.width // 2 + s.jitter()
    y = s.u(55) + s.jitter()
    sheet.text(centre, y, c.values[c.issuer], s.font(True, s.head), "ma", name=c.issuer)
    y += s.head + s.head // 2
    sheet.text(centre, y, " · ".join([*c.addresses[c.issuer], c.contact]), s.font(size=s.small), "ma")
    y += s.small + s.u(40)
    sheet.text(left, y, c.title, s.font(True, s.title))
    y = _recipient_block(sheet, s, c, left + s.jitter(), y + s.title + s.u(30), inline=s.rng.random() < 0.5)
    rows = _facts(s, c, _head_fields(s), 1)
    y += s.u(40)
    step = (right - left) // len(rows)
    for k, (label, value, name) in enumerate(rows):
        x = left + k * step
        sheet.text(x, y, value, s.font(True), name=name)
        sheet.line(x, y + s.body + s.u(10), x + step - s.u(20), y + s.body + s.u(10))
        sheet.text(x, y + s.body + s.u(16), label, s.font(size=s.small))
    y += s.body + s.small + s.u(70)
    sheet2, y = _items(s, c, left, right, y)
    y = _totals(sheet2, s, c, right, y + s.jitter(8), boxed=True)
    y = _due_after_totals(sheet2, s, c, left, y)
    _footer(sheet2, s, c, y, left)


def layout_letter(s: Style, c: Content) -> None:
    """A business letter: letterhead, a small sender line over an address window without labels, facts at the
    right, the number in the subject line, the due date in a closing sentence."""
    sheet = s.sheets[0]
    left, right = s.u(70) + s.jitter(10), sheet.width - s.u(60) + s.jitter()
    y = _issuer_block(sheet, s, c, right, s.u(50) + s.jitter(), "ra")
    window = max(y + s.u(30), s.u(200)) + s.jitter(10)
    sender = " · ".join([c.values[c.issuer], *c.addresses[c.issuer]])
    tiny = max(s.u(11), s.small - s.u(6))
    sheet.text(left, window, sender, s.font(size=tiny))
    sheet.line(left, window + tiny + s.u(4), left + s.u(330), window + tiny + s.u(4))
    y = _recipient_block(sheet, s, c, left, window + tiny + s.u(20), inline=False, labelled=False)
    rows = _facts(s, c, ["invoice_date"], 2)
    end = _facts_inline(sheet, s, rows, right, window + s.u(10), aligned=s.rng.random() < 0.5)
    y = max(y, end) + s.u(45)
    subject = sheet.text(left, y, f"{c.title} {c.lang.number_word}" if s.rng.random() < 0.5
                         else c.labels["invoice_number"], s.font(True, s.head))
    sheet.text(subject[2] + s.u(16), y, c.values["invoice_number"], s.font(True, s.head), name="invoice_number")
    y += s.head + s.u(30)
    sheet.text(left, y, s.rng.choice(c.lang.greeting), s.font())
    sheet, y = _items(s, c, left, right, y + s.line + s.u(35))
    y = _totals(sheet, s, c, right, y + s.jitter(8))
    if "due_date" in c.values:
        y += s.u(30)
        box = sheet.text(left, y, c.lang.due_sentence[c.kind], s.font())
        sheet.text(box[2] + s.u(12), y, c.values["due_date"], s.font(), name="due_date")
        y += s.line
    _footer(sheet, s, c, y, left)


def layout_banner(s: Style, c: Content) -> None:
    """Issuer centred over a rule, title and recipient left, the facts stacked (label above value) at the right."""
    sheet = s.sheets[0]
    left, right = s.u(60) + s.jitter(), sheet.width - s.u(60) + s.jitter()
    centre = sheet.width // 2 + s.jitter()
    y = s.u(50) + s.jitter()
    sheet.text(centre, y, c.values[c.issuer], s.font(True, s.head), "ma", name=c.issuer)
    y += s.head + s.head // 2
    sheet.text(centre, y, ", ".join(c.addresses[c.issuer]), s.font(size=s.small), "ma")
    y += s.small + s.small // 2
    sheet.text(centre, y, c.contact, s.font(size=s.small), "ma")
    y += s.small + s.u(20)
    sheet.line(left, y, right, y, width=max(1, s.u(2)))
    y += s.u(25) + s.jitter(10)
    sheet.text(left, y, c.title, s.font(True, s.title))
    end = _facts_stacked(sheet, s, _facts(s, c, _head_fields(s), s.rng.randint(0, 1)), right, y, "ra")
    y = _recipient_block(sheet, s, c, left + s.jitter(), y + s.title + s.u(30), inline=False)
    _end(s, c, left, right, max(y, end) + s.u(30) + s.jitter())


def layout_receipt(s: Style, c: Content) -> None:
    """A narrow till receipt: issuer centred, label left and value right, items in two lines, a bold total."""
    sheet = s.sheets[0]
    left, right = s.u(22), sheet.width - s.u(22)
    centre = sheet.width // 2
    y = s.u(30) + s.jitter(8)
    sheet.text(centre, y, c.values["vendor_name"], s.font(True, s.body), "ma", name="vendor_name")
    y += s.line
    for line in [*c.addresses["vendor_name"], c.contact]:
        sheet.text(centre, y, line, s.font(size=s.small), "ma")
        y += s.small + s.u(6)
    y += s.u(12)
    sheet.text(centre, y, c.title, s.font(True, s.body), "ma")
    y += s.line + s.u(6)
    for label, value, name in _facts(s, c, ["invoice_number", "invoice_date", "customer_name"], 1):
        sheet.text(left, y, s.label(label), s.font(size=s.small))
        sheet.text(right, y, value, s.font(size=s.small), "ra", name=name)
        y += s.small + s.u(10)
    y += s.u(6)
    sheet.line(left, y, right, y)
    y += s.u(14)
    for description, quantity, unit, amount in c.items:
        sheet.text(left, y, description, s.font(size=s.small))
        y += s.small + s.u(6)
        sheet.text(left + s.u(16), y, f"{quantity} x {unit}", s.font(size=s.small))
        sheet.text(right, y, amount, s.font(size=s.small), "ra")
        y += s.small + s.u(10)
    sheet.line(left, y, right, y)
    y += s.u(14)
    sheet.text(left, y, s.label(c.tax_label), s.font(size=s.small))
    sheet.text(right, y, c.tax, s.font(size=s.small), "ra")
    y += s.small + s.u(14)
    sheet.text(left, y, c.labels["total_amount"], s.font(True, s.head))
    sheet.text(right, y, c.values["total_amount"], s.font(True, s.head), "ra", name="total_amount")
    y += s.head + s.u(24)
    sheet.text(centre, y, s.rng.choice(c.lang.footers), s.font(size=s.small), "ma")
    y += s.small + s.u(40)
    # the receipt ends where its text does
    sheet.height = min(sheet.height, y)
    sheet.image = sheet.image.crop((0, 0, sheet.width, sheet.height))


LAYOUTS: dict[str, Layout] = {
    "classic": layout_classic,
    "two_column": layout_two_column,
    "grid": layout_grid,
    "label_below": layout_label_below,
    "letter": layout_letter,
    "banner": layout_banner,
    "receipt": layout_receipt,
}


# --- one document -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """What one document is: its number, split, kind, layout, language and variation."""

    number: int
    split: str
    kind: str
    layout: str
    language: str
    variation: str

    @property
    def stem(self) -> str:
        return f"{self.number:03d}_{self.kind}_{self.layout}_{self.language}_{self.variation}"


@dataclass
class PageOut:
    """A finished page: its image and its fields' texts and boxes in the image's pixels."""

    image: Image.Image
    fields: dict[str, tuple[str, Box]]
    words: tuple[str, ...] = ()  # the texts drawn on it


def _style(rng: random.Random, families: dict[str, tuple[Path, Path]], scale: float, receipt: bool) -> Style:
    files = families[rng.choice(sorted(families))] if families else None
    body = round(rng.randint(15, 19) * scale) if receipt else round(rng.randint(17, 20) * scale)
    return Style(fonts=Fonts(files), scale=scale, body=body, small=max(round(15 * scale), body - round(2 * scale)),
                 head=body + round(rng.randint(2, 4) * scale), title=round(rng.randint(26, 34) * scale),
                 line=int(body * rng.uniform(1.45, 1.7)), labels_bold=rng.random() < 0.6, colon=rng.random() < 0.6,
                 rng=rng)


def _page_numbers(s: Style, c: Content) -> None:
    """"Page n of m" at the foot of every page of a document of several pages."""
    if len(s.sheets) > 1:
        for n, sheet in enumerate(s.sheets, 1):
            sheet.text(sheet.width - s.u(60), sheet.height - s.u(45), c.lang.page.format(n=n, m=len(s.sheets)),
                       s.font(size=s.small), "ra")


def draw_document(spec: Spec, rng: random.Random, families: dict[str, tuple[Path, Path]],
                  pdf_pages: int = 2) -> list[PageOut]:
    """The pages of one document as drawn (before any scanning or photographing), redrawn until no field is
    crowded. A PDF has ``pdf_pages`` pages (more than 2: about that many, as its line items fill them)."""
    lang = LANGUAGES[spec.language]
    scale = VARIATION_DPI[spec.variation] / 100
    receipt = spec.layout == "receipt"
    inches = (3.3, 14.0) if receipt else PAGE_INCHES[lang.paper]
    width, height = round(inches[0] * 100 * scale), round(inches[1] * 100 * scale)
    pages = pdf_pages if spec.variation in PDF_VARIATIONS else 1
    two_pages = pages == 2
    for _ in range(60):
        if pages > 2:
            n_items = 26 * (pages - 1) + rng.randint(3, 7)
        else:
            n_items = rng.randint(16, 26) if two_pages else rng.randint(2, 8 if receipt else 6)
        content = make_content(rng, lang, spec.kind, n_items)
        style = _style(rng, families, scale, receipt)
        if two_pages:
            style.page_break = n_items - rng.randint(3, 7)
        style.max_pages = pages + 2 if pages > 2 else pages
        paper = 255 if rng.random() < 0.6 else rng.randint(238, 250)
        style.sheets.append(Sheet(width, height, scale, paper, 0 if rng.random() < 0.5 else rng.randint(20, 70)))
        try:
            LAYOUTS[spec.layout](style, content)
            _page_numbers(style, content)
            for sheet in style.sheets:
                sheet.check()
        except Overlap:
            continue
        found = {name for sheet in style.sheets for name in sheet.fields}
        if found != set(content.values):
            raise AssertionError(f"{spec.layout} drew {sorted(found)}, not {sorted(content.values)}")
        if (two_pages and len(style.sheets) != 2) or (pages > 2 and len(style.sheets) < 3):
            continue
        return [PageOut(sheet.image, dict(sheet.fields), tuple(sheet.words)) for sheet in style.sheets]
    raise RuntimeError(f"no {spec.layout} page without crowded fields after 60 tries")


# --- variations ----------------------------------------------------------------------------------

def _noise(image: Image.Image, gen: np.random.Generator, sigma: float) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + gen.normal(0, sigma, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), image.mode)


def _specks(image: Image.Image, rng: random.Random, gen: np.random.Generator) -> Image.Image:
    """Light grey dust on the ink-free page, as a flatbed leaves it."""
    pixels = np.asarray(image, dtype=np.int16).copy()
    count = int(gen.integers(100, 600))
    ys, xs = gen.integers(0, image.height, count), gen.integers(0, image.width, count)
    pixels[ys, xs] -= gen.integers(15, 70, count).astype(np.int16)
    if rng.random() < 0.25:
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
        return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.6)))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")


def _map_box(box: Box, matrix: np.ndarray, size: tuple[int, int]) -> Box:
    """The axis-aligned box around ``box``'s corners mapped by a 3 x 3 projective ``matrix``, within ``size``."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], dtype=np.float64).T
    mapped = matrix @ corners
    xs, ys = mapped[0] / mapped[2], mapped[1] / mapped[2]
    return (max(0, math.floor(xs.min())), max(0, math.floor(ys.min())),
            min(size[0], math.ceil(xs.max())), min(size[1], math.ceil(ys.max())))


def _warp(image: Image.Image, matrix: np.ndarray, size: tuple[int, int], fill: int | tuple[int, ...]) -> Image.Image:
    """``image`` mapped by the 3 x 3 ``matrix`` (source -> destination) onto a canvas of ``size``."""
    inverse = np.linalg.inv(matrix)
    inverse = inverse / inverse[2, 2]
    coefficients = tuple(float(v) for v in inverse.flatten()[:8])
    return image.transform(size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC,
                           fillcolor=fill)


def _transformed(page: PageOut, image: Image.Image, matrix: np.ndarray) -> PageOut:
    return PageOut(image, {name: (text, _map_box(box, matrix, image.size))
                           for name, (text, box) in page.fields.items()})


def scan(page: PageOut, rng: random.Random, gen: np.random.Generator) -> tuple[PageOut, int]:
    """A flatbed scan: turned by 90 or 180 degrees on one page in five, skewed 1-4 degrees, blurred, noisy;
    return the page and the JPEG quality to store it at."""
    image = page.image
    w, h = image.size
    turn = rng.choices([0, 90, 180, 270], [80, 5, 10, 5])[0]
    skew = rng.uniform(1, 4) * rng.choice([-1, 1])
    theta = math.radians(turn + skew)
    cos, sin = math.cos(theta), math.sin(theta)
    # rotation about the page's centre (counter-clockwise as seen), on a canvas that holds all of it
    out_w = math.ceil(abs(w * cos) + abs(h * sin))
    out_h = math.ceil(abs(w * sin) + abs(h * cos))
    to_origin = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]])
    rotate = np.array([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]])
    to_centre = np.array([[1, 0, out_w / 2], [0, 1, out_h / 2], [0, 0, 1]])
    matrix = to_centre @ rotate @ to_origin
    bed = rng.randint(215, 250)
    image = _warp(image, matrix, (out_w, out_h), bed)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.3)))
    image = _noise(image, gen, rng.uniform(4, 10))
    return _transformed(page, image, matrix), rng.randint(35, 45)


def _homography(src: Sequence[tuple[float, float]], dst: Sequence[tuple[float, float]]) -> np.ndarray:
    """The 3 x 3 projective map taking the four ``src`` points to the four ``dst`` points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    solution = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    return np.append(solution, 1.0).reshape(3, 3)


def photograph(page: PageOut, rng: random.Random, gen: np.random.Generator) -> PageOut:
    """A phone photo: the page smaller, in perspective and slightly turned on a darker table, under light that
    falls off across it, a little blurred and noisy, in colour."""
    w, h = page.image.size
    out_w, out_h = (1200, 1600) if w < h * 0.5 else (1275, 1650)
    fill = rng.uniform(0.72, 0.9) * min(out_w / w, out_h / h)
    pw, ph = w * fill, h * fill
    cx, cy = out_w / 2 + rng.uniform(-0.05, 0.05) * out_w, out_h / 2 + rng.uniform(-0.04, 0.04) * out_h
    angle = math.radians(rng.uniform(-5, 5))
    dst = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        x, y = sx * pw / 2, sy * ph / 2
        x, y = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
        dst.append((cx + x + rng.uniform(-0.05, 0.05) * pw, cy + y + rng.uniform(-0.04, 0.04) * ph))
    matrix = _homography([(0, 0), (w, 0), (w, h), (0, h)], dst)
    warped = _warp(page.image, matrix, (out_w, out_h), 0)
    mask = _warp(Image.new("L", (w, h), 255), matrix, (out_w, out_h), 0)
    table_tone = rng.randint(50, 130)
    table = np.full((out_h, out_w), table_tone, dtype=np.float32) + gen.normal(0, 6, (out_h, out_w)).astype(np.float32)
    gray = np.where(np.asarray(mask) > 127, np.asarray(warped, dtype=np.float32), table)
    # light falling off across the picture, from a random side
    direction = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    ramp = (xs / out_w - 0.5) * math.cos(direction) + (ys / out_h - 0.5) * math.sin(direction)
    light = 0.88 + rng.uniform(0.15, 0.35) * ramp
    gray = gray * light
    tint = np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 0.97)], dtype=np.float32)
    rgb = np.clip(gray[:, :, None] * tint[None, None, :], 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB").filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.0)))
    image = _noise(image, gen, rng.uniform(2, 5))
    return _transformed(page, image, matrix)


# --- files ----------------------------------------------------------------------------------------

def _box_json(box: Box, size: tuple[int, int]) -> dict[str, int]:
    x0, y0, x1, y1 = box
    return {"xmin": max(0, x0 - BOX_MARGIN), "ymin": max(0, y0 - BOX_MARGIN),
            "xmax": min(size[0], x1 + BOX_MARGIN), "ymax": min(size[1], y1 + BOX_MARGIN)}


def annotation(filename: str, pages: Sequence[PageOut], paged: bool) -> dict[str, object]:
    """The Nanonets OCR annotation of a document: each field's text and box (with BOX_MARGIN) and, for a PDF,
    its page."""
    objects: list[dict[str, object]] = []
    for name in FIELDS:
        for number, page in enumerate(pages):
            if name in page.fields:
                text, box = page.fields[name]
                item: dict[str, object] = {"name": name, "ocr_text": text, "bndbox": _box_json(box, page.image.size)}
                if paged:
                    item["page"] = number
                objects.append(item)
    return {"filename": filename, "object": objects}


def _pdf_bytes(images: Sequence[Image.Image], dpi: int, quality: int = 75) -> bytes:
    """A PDF of the page images (JPEG inside) whose pages render at ``dpi`` to the images' size."""
    buffer = io.BytesIO()
    first, *rest = [im.convert("L") for im in images]
    first.save(buffer, "PDF", save_all=True, append_images=rest, resolution=float(dpi), quality=quality,
               creationDate=None, modDate=None)  # no clock in the file
    return buffer.getvalue()


def write_document(spec: Spec, folder: Path, seed: int, families: dict[str, tuple[Path, Path]],
                   pdf_pages: int = 2) -> tuple[Path, int]:
    """Draw, vary and store one document with its annotation; return the document's path and its pages."""
    rng = random.Random(f"{seed}/{spec.split}/{spec.number}")
    gen = np.random.default_rng(rng.getrandbits(64))
    pages = draw_document(spec, rng, families, pdf_pages)
    buffer = io.BytesIO()
    if spec.variation == "clean":
        page = PageOut(_specks(pages[0].image, rng, gen), pages[0].fields)
        pages = [page]
        if rng.random() < 0.15:
            suffix = ".jpg"
            page.image.save(buffer, "JPEG", quality=90)
        else:
            suffix = ".png"
            page.image.save(buffer, "PNG", optimize=True)
    elif spec.variation == "scanned":
        page, quality = scan(pages[0], rng, gen)
        pages = [page]
        suffix = ".jpg"
        page.image.save(buffer, "JPEG", quality=quality)
    elif spec.variation == "photo":
        page = photograph(pages[0], rng, gen)
        pages = [page]
        suffix = ".jpg"
        page.image.save(buffer, "JPEG", quality=rng.randint(55, 75))
    elif spec.variation == "scanned_pdf":
        pages = [scan(p, rng, gen)[0] for p in pages]
        suffix = ".pdf"
        buffer.write(_pdf_bytes([p.image for p in pages], VARIATION_DPI["pdf"], quality=rng.randint(35, 45)))
    else:
        pages = [PageOut(_specks(p.image, rng, gen), p.fields) for p in pages]
        suffix = ".pdf"
        buffer.write(_pdf_bytes([p.image for p in pages], VARIATION_DPI["pdf"]))
    path = folder / f"{spec.stem}{suffix}"
    path.write_bytes(buffer.getvalue())
    label = annotation(path.name, pages, paged=spec.variation in PDF_VARIATIONS)
    path.with_suffix(".json").write_text(json.dumps(label, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path, len(pages)


def _deck(options: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """``count`` picks from ``options``, each used equally often (within one), in shuffled rounds."""
    picks: list[str] = []
    while len(picks) < count:
        round_ = list(options)
        rng.shuffle(round_)
        picks += round_
    return picks[:count]


def plan(seed: int, train: int, test: int, *, layouts: Sequence[str], languages: Sequence[str],
         variations: Sequence[str], kinds: Sequence[str]) -> list[Spec]:
    """Which document each number is: layouts, languages, variations and kinds balanced within each split."""
    specs = []
    number = 0
    for split, count in (("train", train), ("test", test)):
        rng = random.Random(f"{seed}/{split}/plan")
        picked = {name: _deck(options, count, rng) for name, options in
                  (("layout", layouts), ("language", languages), ("variation", variations), ("kind", kinds))}
        for k in range(count):
            number += 1
            layout, variation, kind = picked["layout"][k], picked["variation"][k], picked["kind"][k]
            if layout == "receipt":
                kind = "receipt"
                if variation in PDF_VARIATIONS:  # a till receipt is one short page: photographed instead
                    variation = "photo"
            specs.append(Spec(number, split, kind, layout, picked["language"][k], variation))
    return specs


README = """# Synthetic documents

{total} documents made by `scripts/make_documents.py`:

    python scripts/make_documents.py {args}

- `train/`: {train} documents, `test/`: {test} documents, named `NNN_KIND_LAYOUT_LANG_VARIATION.EXT`
- `manifest.json`: every document's split, kind, layout, language (and Tesseract's name for it),
  variation and pages

Each document has its annotation beside it (`.json`, the Nanonets OCR form; boxes in pixels of the stored
page, a PDF's pages at 150 dpi with "page" counting from 0). Fields: {fields} (receipts have no due date).
The same command gives byte-identical files.
"""


def make_documents(out: Path, *, seed: int = DEFAULT_SEED, train: int = DEFAULT_TRAIN, test: int = DEFAULT_TEST,
                   layouts: Sequence[str] = tuple(LAYOUTS), languages: Sequence[str] = tuple(LANGUAGES),
                   variations: Sequence[str] = VARIATIONS, kinds: Sequence[str] = KINDS, pdf_pages: int = 2,
                   command: str | None = None) -> list[dict[str, object]]:
    """Write ``out/train/``, ``out/test/`` (replaced as a whole), ``out/manifest.json`` and ``out/README.md``;
    return the manifest's entries."""
    families = available_families()
    for split in ("train", "test"):
        if (out / split).exists():
            shutil.rmtree(out / split)
        (out / split).mkdir(parents=True)
    manifest: list[dict[str, object]] = []
    for spec in plan(seed, train, test, layouts=layouts, languages=languages, variations=variations, kinds=kinds):
        path, pages = write_document(spec, out / spec.split, seed, families, pdf_pages)
        manifest.append({"file": f"{spec.split}/{path.name}", "split": spec.split, "kind": spec.kind,
                         "layout": spec.layout, "language": spec.language,
                         "tesseract": LANGUAGES[spec.language].tesseract, "variation": spec.variation,
                         "pages": pages})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    (out / "README.md").write_text(README.format(
        total=train + test, args=command or f"--out {out} --train {train} --test {test} --seed {seed}",
        train=train, test=test, fields=", ".join(f"`{name}`" for name in FIELDS)), encoding="utf-8")
    return manifest


def _choices(text: str, allowed: Sequence[str], what: str) -> list[str]:
    picked = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [p for p in picked if p not in allowed]
    if unknown or not picked:
        raise argparse.ArgumentTypeError(f"{what}: {', '.join(unknown) or 'none'} not among {', '.join(allowed)}")
    return picked


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write train/, test/, manifest.json and README.md into")
    parser.add_argument("--train", type=int, default=DEFAULT_TRAIN,
                        help=f"training documents (default {DEFAULT_TRAIN})")
    parser.add_argument("--test", type=int, default=DEFAULT_TEST, help=f"test documents (default {DEFAULT_TEST})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--layouts", type=lambda t: _choices(t, tuple(LAYOUTS), "--layouts"), default=list(LAYOUTS),
                        help=f"comma-separated (default all: {','.join(LAYOUTS)})")
    parser.add_argument("--languages", type=lambda t: _choices(t, tuple(LANGUAGES), "--languages"),
                        default=list(LANGUAGES), help=f"comma-separated (default all: {','.join(LANGUAGES)})")
    parser.add_argument("--variations", type=lambda t: _choices(t, VARIATIONS + EXTRA_VARIATIONS, "--variations"),
                        default=list(VARIATIONS), help=f"comma-separated (default: {','.join(VARIATIONS)}; also "
                        f"{','.join(EXTRA_VARIATIONS)}: a PDF of scanned pages)")
    parser.add_argument("--pdf-pages", type=int, default=2, help="pages of each PDF (default 2; more: about that "
                        "many, as the line items fill them)")
    parser.add_argument("--kinds", type=lambda t: _choices(t, KINDS, "--kinds"), default=list(KINDS),
                        help="comma-separated: invoice, purchase_order (the receipt layout makes receipts)")
    args = parser.parse_args(argv)
    if args.train < 0 or args.test < 0 or args.train + args.test > 999:
        parser.error("--train and --test must be >= 0 and together at most 999")
    if not 2 <= args.pdf_pages <= 500:
        parser.error("--pdf-pages must be from 2 to 500")
    command = " ".join(["--out", args.out, "--train", str(args.train), "--test", str(args.test), "--seed",
                        str(args.seed), "--layouts", ",".join(args.layouts), "--languages", ",".join(args.languages),
                        "--variations", ",".join(args.variations), "--kinds", ",".join(args.kinds),
                        *(["--pdf-pages", str(args.pdf_pages)] if args.pdf_pages != 2 else [])])
    out = Path(args.out)
    manifest = make_documents(out, seed=args.seed, train=args.train, test=args.test, layouts=args.layouts,
                              languages=args.languages, variations=args.variations, kinds=args.kinds,
                              pdf_pages=args.pdf_pages, command=command)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {len(manifest)} documents ({total / 1024:.0f} KiB) to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
