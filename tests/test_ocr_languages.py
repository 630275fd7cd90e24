"""The languages an OCR model reads: named at creation (checked against the engine's packs) or found in its
training documents, and used when it reads (a German page keeps its umlauts)."""
from __future__ import annotations

import base64
import io
import json
import random

import pytest
from helpers import needs_tesseract
from PIL import Image, ImageDraw, ImageFont

from nanoclient.server.app import create_app
from nanoclient.server.config import ServerConfig
from nanoclient.server.ocr import languages as ocr_languages

KEY = "lang-key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def test_codes_are_taken_in_their_usual_spellings_and_nonsense_is_refused():
    assert ocr_languages.normalise(["de", "ENG", " fre ", "deu", ""]) == ("deu", "eng", "fra")
    assert ocr_languages.normalise(["chi_sim"]) == ("chi_sim",)
    with pytest.raises(ValueError, match="not a language code"):
        ocr_languages.normalise(["d3u"])
    with pytest.raises(ValueError, match="not a language code"):
        ocr_languages.normalise(["x"])


def test_languages_are_found_in_the_words_of_the_pages():
    german = "Rechnung Rechnungsnummer Datum Lieferant Bürobedarf GmbH Gartenstraße Menge Einzelpreis " \
             "Gesamtbetrag Zahlbar bis und der die MwSt Netto Brutto Kundennummer".split()
    french = "Facture Numéro de facture Date Client Quantité Prix unitaire Total TTC TVA Échéance rue " \
             "Paiement le la les et pour".split()
    english = "Invoice Number Date Due Bill To Customer Total Amount Quantity Price Payment the and of".split()
    assert ocr_languages.detect(german)[0] == "deu"
    assert ocr_languages.detect(french)[0] == "fra"
    assert ocr_languages.detect(english) == ("eng",)
    assert ocr_languages.detect(german + english * 2) [:2] in (("eng", "deu"), ("deu", "eng"))
    assert ocr_languages.detect([]) == ocr_languages.DEFAULT
    assert ocr_languages.detect(german, available=["eng", "fra"]) == ocr_languages.DEFAULT  # no German pack


def test_each_document_is_read_in_the_language_its_words_show_and_a_model_in_those_of_its_documents():
    german = "QUITTUNG Beleg-Nr. Datum Kunde zzgl. MwSt".split()
    spanish = "Recibo Ticket n.° Fecha Cliente Total a pagar".split()
    few = ["Total", "42,00"]
    assert ocr_languages.pick(german, ("fra", "deu", "eng")) == "deu"
    assert ocr_languages.pick(spanish, ("eng", "spa")) == "spa"
    assert ocr_languages.pick(few, ("nld", "eng")) == "nld"  # too little to tell: the model's first
    assert ocr_languages.vote([german] * 5 + [spanish] * 3 + [few] * 4) == ("deu", "spa")
    assert ocr_languages.vote([german] * 19 + [spanish]) == ("deu", "spa")  # one document in twenty: kept
    assert ocr_languages.vote([german] * 21 + [spanish]) == ("deu",)  # fewer: taken for a misreading
    assert ocr_languages.vote([]) == ocr_languages.DEFAULT


@pytest.fixture()
def app(tmp_path):
    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=5))
    yield app
    app.extensions["nanoclient"]["backend"].close()


def _models(http) -> list[dict]:
    return http.get("/api/v2/ImageCategorization/Models/", headers=AUTH).get_json()


@needs_tesseract
def test_languages_named_at_creation_are_kept_and_bad_ones_refused_storing_nothing(app):
    http = app.test_client()
    response = http.post("/api/v2/OCR/Model/", headers=AUTH,
                         json={"categories": ["total"], "model_type": "ocr", "languages": ["de", "eng"]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["languages"] == ["deu", "eng"]
    model_id = response.get_json()["model_id"]
    assert http.get(f"/api/v2/OCR/Model/{model_id}", headers=AUTH).get_json()["languages"] == ["deu", "eng"]
    as_query = http.post("/api/v2/OCR/Model/?languages=fra,eng", headers=AUTH,
                         json={"categories": ["total"], "model_type": "ocr"})
    assert as_query.get_json()["languages"] == ["fra", "eng"]
    for languages, message in ((["d3u"], "not a language code"), (["zzz"], "no pack for zzz"),
                               (["eng", "deu", "fra", "nld", "spa", "ita"], "Too many languages")):
        refused = http.post("/api/v2/OCR/Model/", headers=AUTH,
                            json={"categories": ["total"], "model_type": "ocr", "languages": languages})
        assert refused.status_code == 400 and message in refused.get_json()["message"], refused.get_json()
    hint = http.post("/api/v2/OCR/Model/", headers=AUTH,
                     json={"categories": ["t"], "model_type": "ocr", "languages": ["zzz"]}).get_json()
    assert "apt-get install tesseract-ocr-zzz" in json.dumps(hint)
    assert len(_models(http)) == 2


VENDORS = ["Bürobedarf Müller", "Großhandel Käfer", "Schäfer Büroartikel", "Möbelhaus Jäger",
           "Grünwald Drogerie", "Bäckerei Brötchen", "Fröhlich Gerätebau"]


def _german_page(number: int) -> tuple[bytes, dict]:
    """A German invoice page and its annotation: the vendor's name (with umlauts) beside its label."""
    chance = random.Random(number)
    image = Image.new("L", (900, 700), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 24)
    vendor = VENDORS[number % len(VENDORS)]
    lines = [("Rechnung", None), (f"Rechnungsnummer: RE-{chance.randint(10000, 99999)}", None),
             ("Lieferant:", vendor), ("Straße: Gartenstraße 12, München", None),
             ("Menge und Einzelpreis siehe unten", None), (f"Gesamtbetrag: {chance.randint(10, 999)},50 EUR", None)]
    boxes = []
    y = 60
    for label, value in lines:
        draw.text((60, y), label, font=font, fill=0)
        if value is not None:
            draw.text((300, y), value, font=font, fill=0)
            left, top, right, bottom = draw.textbbox((300, y), value, font=font)
            boxes.append({"name": "vendor", "ocr_text": value,
                          "bndbox": {"xmin": left - 3, "ymin": top - 3, "xmax": right + 3, "ymax": bottom + 3}})
        y += 80
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue(), {"filename": f"rechnung_{number}.png", "object": boxes}


@needs_tesseract
@pytest.mark.skipif("deu" not in ocr_languages.installed(), reason="Tesseract's German pack is not installed "
                    "(scripts/system_deps.sh installs it)")
def test_a_model_naming_no_language_finds_german_and_reads_umlauts(app):
    http = app.test_client()
    model_id = http.post("/api/v2/OCR/Model/", headers=AUTH,
                         json={"categories": ["vendor"], "model_type": "ocr"}).get_json()["model_id"]
    pages = [_german_page(n) for n in range(6)]
    response = http.post(f"/api/v2/OCR/Model/{model_id}/UploadFile/", headers=AUTH, data={
        "file": [(io.BytesIO(content), entry["filename"]) for content, entry in pages],
        "data": json.dumps([entry for _, entry in pages])})
    assert response.status_code == 200, response.get_json()
    assert http.post(f"/api/v2/OCR/Model/{model_id}/Train/", headers=AUTH).status_code == 200
    assert app.extensions["nanoclient"]["backend"].wait_idle(240)
    model = http.get(f"/api/v2/OCR/Model/{model_id}", headers=AUTH).get_json()
    assert model["state"] == 5, model
    assert model["languages"][0] == "deu"
    content, _ = _german_page(6)  # a vendor it never saw in training
    answer = http.post(f"/api/v2/OCR/Model/{model_id}/LabelFile/", headers=AUTH,
                       data={"file": [(io.BytesIO(content), "neu.png")]}).get_json()
    texts = [field["ocr_text"] for page in answer["result"] for field in page["prediction"]]
    assert VENDORS[6 % len(VENDORS)] in texts, answer
