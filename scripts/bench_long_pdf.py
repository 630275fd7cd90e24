#!/usr/bin/env python3
"""A long scanned PDF through the local server: is it read once, and how much memory does the server take?

    python scripts/bench_long_pdf.py [--pages 150] [--mode sync|retries|cli] [--json out.json]

Against a fresh ``nanoclient serve`` (Tesseract installed): trains an OCR model on 25 synthetic invoices
(``make_invoices.py``), then sends one PDF of ``--pages`` scanned invoice pages (drawn as make_invoices draws
them, turned by up to a degree, speckled, stored as JPEG) for prediction:

  * ``sync``: one LabelFile request that waits as long as it takes;
  * ``retries``: as the CLI did before issue 33: each attempt gives up after 30 s and sends the same document
    again (the server must not read it again meanwhile, and must stop reading for clients that have gone);
  * ``cli``: ``nanoclient ocr predict FILE`` with the defaults.

With --no-give-back the server keeps the memory it freed (``memory.give_back`` off): compare its resident
memory after training and after the prediction with a run without it.

Tesseract is counted by a ``tesseract`` on the server's PATH that notes each page it reads, then runs the real
one. The server's peak resident memory (VmHWM of its /proc status) and the renderer processes' largest
resident memory are sampled every 0.2 s. It prints one table (and writes it with --json). 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import make_invoices  # noqa: E402
from bench import nanoclient_command  # noqa: E402

KEY = "bench-long-pdf"
#: The issue's bar for the server's peak resident memory with a 150-page scan.
MAX_PEAK_MB = 1024


def status(pid: int, field: str) -> float:
    """A memory figure (kB in /proc) of a process, in MB; 0 when it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """The process ids of a process's children (the server's renderers, and its Tesseract runs)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # each thread's children (the renderers are started by any)
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def renderer_pids(server_pid: int) -> list[int]:
    out = []
    for child in children(server_pid):
        try:
            if b"pdf_render" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(child)
        except OSError:
            pass
    return out


class Sampler(threading.Thread):
    """Samples the server's VmHWM and VmRSS, and its renderers' VmRSS, every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.renderer_peak = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, status(self.pid, "VmHWM"))
            for child in renderer_pids(self.pid):
                self.renderer_peak = max(self.renderer_peak, status(child, "VmRSS"))
            time.sleep(0.2)

    def stop(self) -> None:
        self._done.set()
        self.join()


def scanned_pdf(pages: int, seed: int) -> bytes:
    """``pages`` invoice pages as a scanner makes them (turned a little, specks, JPEG), in one PDF."""
    from PIL import Image

    families = make_invoices.available_families()
    images = []
    for number in range(pages):
        rng = random.Random(f"long/{seed}/{number}")
        image, _ = make_invoices.draw_invoice(rng, families)
        image = image.rotate(rng.uniform(-1, 1), resample=Image.Resampling.BICUBIC, fillcolor=235)
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=100, quality=75)
    return out.getvalue()


def tesseract_counter(folder: Path, log: Path) -> Path:
    """A folder with a ``tesseract`` that notes each page read (``stdin`` input) in ``log``, then runs the real one."""
    real = shutil.which("tesseract")
    if real is None:
        raise SystemExit("Tesseract is not installed (scripts/system_deps.sh)")
    script = folder / "tesseract"
    script.write_text(f'#!/bin/sh\nif [ "$1" = stdin ]; then echo page >> "{log}"; fi\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    return folder


def pages_read(log: Path) -> int:
    try:
        return len(log.read_text().splitlines())
    except FileNotFoundError:
        return 0


#: With --no-give-back, the server's ``memory.give_back`` does nothing (to measure what it gives back).
NO_GIVE_BACK = """
import nanoclient.server.memory as memory
memory.give_back = lambda: False
"""


def serve(data_dir: Path, path_dir: Path, server_log: Path, *,
          give_back: bool = True) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PATH=f"{path_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    if not give_back:
        (path_dir / "sitecustomize.py").write_text(NO_GIVE_BACK)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path_dir), env.get("PYTHONPATH")]))
    proc = subprocess.Popen([*nanoclient_command(), "serve", "--port", "0", "--data-dir", str(data_dir),
                             "--min-images", "5", "--verbose"],
                            stdout=subprocess.PIPE, stderr=server_log.open("w"), text=True, env=env)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"the server did not start (printed {url!r}; see {server_log})")
    return proc, url


def train(url: str, folder: Path) -> str:
    http = requests.Session()
    http.auth = (KEY, "")
    fields = list(make_invoices.FIELDS)
    model_id = http.post(f"{url}/OCR/Model/", json={"categories": fields, "model_type": "ocr",
                                                   "languages": ["eng"]}, timeout=60).json()["model_id"]
    entries = [json.loads(p.read_text()) for p in sorted((folder / "train").glob("*.json"))]
    files = [("file", (e["filename"], (folder / "train" / e["filename"]).read_bytes())) for e in entries]
    response = http.post(f"{url}/OCR/Model/{model_id}/UploadFile/", files=files, data={"data": json.dumps(entries)},
                         timeout=300)
    response.raise_for_status()
    http.post(f"{url}/OCR/Model/{model_id}/Train/", timeout=60).raise_for_status()
    while True:
        model = http.get(f"{url}/OCR/Model/{model_id}", timeout=60).json()
        if model["state"] == 5:
            return str(model_id)
        if model["state"] == -1:
            raise SystemExit(f"training failed: {model}")
        time.sleep(1)


def predict(url: str, model_id: str, pdf: Path, mode: str) -> dict[str, Any]:
    """Send the PDF as ``mode`` says; return what came back (pages, states, attempts)."""
    endpoint = f"{url}/OCR/Model/{model_id}/LabelFile/"
    if mode == "cli":
        env = dict(os.environ, NANONETS_API_KEY=KEY, NANONETS_BASE_URL=url,
                   NANOCLIENT_CACHE_DIR=tempfile.mkdtemp(prefix="bench-long-pdf-cache-"))
        out = pdf.with_suffix(".csv")
        done = subprocess.run([*nanoclient_command(), "ocr", "predict", "--model-id", model_id, str(pdf),
                               "--output", str(out)], env=env, capture_output=True, text=True, check=False)
        rows = out.read_text().splitlines() if out.exists() else []
        return {"exit": done.returncode, "output_rows": max(0, len(rows) - 1), "stderr": done.stderr.strip()[-300:]}
    timeout = 30.0 if mode == "retries" else 3600.0
    attempts = 0
    while True:
        attempts += 1
        try:
            with pdf.open("rb") as handle:
                response = requests.post(endpoint, auth=(KEY, ""), files={"file": (pdf.name, handle)},
                                         timeout=(10, timeout))
        except requests.Timeout:
            if attempts >= 12:
                return {"attempts": attempts, "error": "timed out every time"}
            continue
        result = response.json().get("result", [])
        states: dict[str, int] = {}
        for page in result:
            states[page["status"]] = states.get(page["status"], 0) + 1
        return {"attempts": attempts, "http": response.status_code, "pages": len(result), "states": states}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=150)
    parser.add_argument("--mode", choices=["sync", "retries", "cli"], default="sync")
    parser.add_argument("--seed", type=int, default=33)
    parser.add_argument("--no-give-back", action="store_true",
                        help="the server keeps freed memory (memory.give_back off), for comparison")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (and print it)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-long-pdf-"))
    try:
        make_invoices.make_invoices(work / "invoices", seed=args.seed, train=25, test=0)
        started = time.perf_counter()
        pdf = work / f"scan-{args.pages}.pdf"
        pdf.write_bytes(scanned_pdf(args.pages, args.seed))
        made = time.perf_counter() - started
        log = work / "tesseract.log"
        proc, url = serve(work / "data", tesseract_counter(Path(tempfile.mkdtemp(dir=work)), log),
                          work / "server.log", give_back=not args.no_give_back)
        sampler = Sampler(proc.pid)
        sampler.start()
        try:
            idle_mb = status(proc.pid, "VmRSS")
            started = time.perf_counter()
            model_id = train(url, work / "invoices")
            trained_s = time.perf_counter() - started
            time.sleep(1)
            after_training_mb = status(proc.pid, "VmRSS")
            hwm_training_mb = status(proc.pid, "VmHWM")
            before = pages_read(log)
            started = time.perf_counter()
            answer = predict(url, model_id, pdf, args.mode)
            predict_s = time.perf_counter() - started
            time.sleep(3)  # anything still being read for a client that left shows up in the count
            read = pages_read(log) - before
            time.sleep(2)
            after_predict_mb = status(proc.pid, "VmRSS")
        finally:
            try:
                proc.terminate()  # first: nothing may leave the server running
                proc.wait(30)
            finally:
                sampler.stop()
        figures = {
            "pages": args.pages, "mode": args.mode, "give_back": not args.no_give_back,
            "pdf_mb": round(pdf.stat().st_size / 2**20, 1),
            "made_s": round(made, 1), "train_s": round(trained_s, 1), "predict_s": round(predict_s, 1),
            "pages_per_s": round(args.pages / predict_s, 2), "answer": answer,
            "tesseract_pages_read_for_the_pdf": read,
            "server_rss_mb": {"idle": round(idle_mb), "after_training": round(after_training_mb),
                              "peak_after_training": round(hwm_training_mb),
                              "after_prediction": round(after_predict_mb), "peak": round(sampler.peak)},
            "renderer_peak_rss_mb": round(sampler.renderer_peak),
            "read_once": read == args.pages, "peak_under_1_gb": sampler.peak < MAX_PEAK_MB,
        }
        print(json.dumps(figures, indent=1))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(figures, indent=1) + "\n")
        return 0 if figures["read_once"] and figures["peak_under_1_gb"] else 1
    finally:
        if args.keep:
            print(f"work folder: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
