#!/usr/bin/env python3
"""Benchmarks: nanoclient against the tutorial's way, on a local server started here.

    python scripts/bench.py [DATA_DIR] [--json bench-results/bench.json] [--quick] [--test-dir DIR]

DATA_DIR defaults to ../shared/data/fashion-mnist-sample/train when it exists, else images/shapes/train.
It measures, in one run, against `nanoclient serve --no-dedupe` (which counts every stored file,
as the hosted service may: nanoclient's exactly-once checks are included in its figures):
  1. upload of the labelled folder: the tutorial's loop (one `requests.post` per file, no session)
     against `nanoclient upload` with its defaults, and the official wrapper (pip package
     `nanonets` 2.0.5, `upload_image_files`, batches of 20 one at a time) against
     `Client.upload_files`, at --latency-ms 0 and 20;
  2. prediction of the same folder: one request per file, and the wrapper's `predict_for_files`,
     against `predict_files` defaults (each nanoclient and wrapper run is repeated --repeats
     times, the median is reported);
  3. training: wall time on all images, and the server's RSS after one prediction pass over them
     against after its first prediction (what predicting keeps);
  4. start-up: the `nanoclient` script's `--help` against `python -c "import requests"` (21 rounds,
     the two in turn; the median of the ratios within a round);
  5. memory as the work grows, on 20,000 synthetic images (--memory-files) against 1,000: the
     client's peak RSS in `upload`, `predict --output` and `evaluate`, and the server's RSS after
     predicting the 20,000 against after its first prediction;
  6. the trainer itself (all that `--trainer-only` runs): stratified 5-fold accuracy for 3 seeds of
     the split, every fold, and the expected calibration error of its probabilities; the learning
     curve (accuracy against 10, 25, 50 and 100 training images per category, each the mean of 5
     random draws tested on 10 other images per category), drawn to docs/learning-curve.png with matplotlib
     (installed when missing); and the project's shapes, trained on images/shapes/train, tested on images/shapes/test;
     with --test-dir, training on all of DATA_DIR and testing on that folder's other images.
and prints a table (and writes it as JSON with --json). Everything talks to 127.0.0.1 only.
The wrapper is installed into this Python's environment when missing (`pip install --no-deps
nanonets==2.0.5 xmljson==0.2.1`: its other dependencies, requests and tqdm, are nanoclient's).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from nanoclient import Client  # noqa: E402
from nanoclient.images import find_labelled_images  # noqa: E402

API_KEY = "bench-key"
NANOCLIENT = [sys.executable, "-m", "nanoclient"]


#: The official Nanonets wrapper, the second baseline, as pip installs it.
WRAPPER = ["nanonets==2.0.5", "xmljson==0.2.1"]
#: The seed tutorial's headline: Nanonets' hosted transfer learning on Fashion-MNIST, about 100 images per class.
TUTORIAL_ACCURACY = 0.833
#: Training images per category on the learning curve, and the random draws averaged at each.
CURVE_SIZES = (10, 25, 50, 100)
CURVE_DRAWS = 5
CURVE_TEST = 10  # test images per category in each draw: the sample's smallest category has 110
CV_SEEDS = (0, 1, 2)


@contextmanager
def local_server(data_dir: Path, *args: str) -> Iterator[tuple[str, int]]:
    """Start `nanoclient serve --no-dedupe` on a free loopback port; yield (its base URL, its pid); stop it."""
    proc = subprocess.Popen(
        [*NANOCLIENT, "serve", "--port", "0", "--data-dir", str(data_dir), "--min-images", "5", "--no-dedupe", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"server did not start (printed {url!r})")
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cli_env(base_url: str, model_id: str = "") -> dict[str, str]:
    env = dict(os.environ, NANONETS_API_KEY=API_KEY, NANONETS_BASE_URL=base_url)
    env["NANOCLIENT_CACHE_DIR"] = tempfile.mkdtemp(prefix="nanoclient-bench-cache-")  # a fresh upload journal
    if model_id:
        env["NANONETS_MODEL_ID"] = model_id
    return env


def new_model(base_url: str, categories: Sequence[str]) -> str:
    with Client(API_KEY, base_url) as client:
        return client.create_model(list(categories)).id


def tutorial_upload(base_url: str, model_id: str, items: Sequence[tuple[Path, str]]) -> float:
    """The tutorial's upload script: one requests.post per file, in sequence, no session."""
    url = f"{base_url}/ImageCategorization/UploadFile/"
    start = time.perf_counter()
    for path, category in items:
        with open(path, "rb") as handle:
            data = {"file": handle, "modelId": ("", model_id), "category": ("", category)}
            response = requests.post(url, auth=requests.auth.HTTPBasicAuth(API_KEY, ""), files=data)
        response.raise_for_status()
    return time.perf_counter() - start


def cli_upload(base_url: str, model_id: str, folder: Path) -> float:
    """`nanoclient upload FOLDER` with its defaults, timed as a user runs it (process start included)."""
    start = time.perf_counter()
    subprocess.run(
        [*NANOCLIENT, "upload", str(folder), "--json"],
        env=cli_env(base_url, model_id),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def tutorial_predict(base_url: str, model_id: str, paths: Sequence[Path]) -> float:
    """The tutorial's prediction script, once per file: one requests.post each, no session."""
    url = f"{base_url}/ImageCategorization/LabelFile/"
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb") as handle:
            data = {"file": handle, "modelId": ("", model_id)}
            response = requests.post(url, auth=requests.auth.HTTPBasicAuth(API_KEY, ""), files=data)
        response.raise_for_status()
    return time.perf_counter() - start


def sdk_predict(base_url: str, model_id: str, paths: Sequence[Path]) -> float:
    """`Client.predict_files` with its defaults."""
    with Client(API_KEY, base_url) as client:
        start = time.perf_counter()
        results = client.predict_files(model_id, list(paths))
        elapsed = time.perf_counter() - start
    assert len(results) == len(paths)
    return elapsed


def ensure_wrapper() -> None:
    """Install the official wrapper (without its pinned dependencies) if this Python lacks it."""
    try:
        import nanonets  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *WRAPPER], check=True)


def wrapper_model(base_url: str, categories: Sequence[str], model_id: str):
    """The wrapper's ImageClassification for an existing model, pointed at the local server."""
    from nanonets import ImageClassification

    model = ImageClassification(API_KEY, list(categories), model_id=model_id)
    model.host = base_url + "/"
    return model


@contextmanager
def quiet() -> Iterator[None]:
    """The wrapper prints a line and a progress bar per batch: keep them out of the timing's terminal."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def wrapper_upload(base_url: str, model_id: str, items: Sequence[tuple[Path, str]]) -> float:
    """The official wrapper's `upload_image_files` with its default batches of 20."""
    model = wrapper_model(base_url, sorted({c for _, c in items}), model_id)
    training = {str(path): category for path, category in items}
    start = time.perf_counter()
    with quiet():
        answers = model.upload_image_files(training, batch_size=20)
    elapsed = time.perf_counter() - start
    assert all(a.status_code == 200 for a in answers)
    return elapsed


def sdk_upload(base_url: str, model_id: str, items: Sequence[tuple[Path, str]]) -> float:
    """`Client.upload_files` with its defaults (the same work as the wrapper's call), with an upload
    journal as `nanoclient upload` keeps one: what exactly-once across restarts costs is in the figure."""
    with Client(API_KEY, base_url) as client, tempfile.TemporaryDirectory(prefix="nanoclient-bench-journal-") as tmp:
        start = time.perf_counter()
        report = client.upload_files(model_id, list(items), journal=Path(tmp) / "journal.jsonl")
        elapsed = time.perf_counter() - start
        assert report.ok and client.get_model(model_id).image_count == len(items)  # each stored exactly once
    return elapsed


def wrapper_predict(base_url: str, model_id: str, paths: Sequence[Path], categories: Sequence[str]) -> float:
    """The official wrapper's `predict_for_files` with its default batches of 20."""
    model = wrapper_model(base_url, categories, model_id)
    start = time.perf_counter()
    with quiet():
        results = model.predict_for_files([str(p) for p in paths])
    elapsed = time.perf_counter() - start
    assert len(results) == len({p.name for p in paths})
    return elapsed


def train_model(base_url: str, model_id: str) -> float:
    with Client(API_KEY, base_url) as client:
        start = time.perf_counter()
        client.train(model_id)
        model = client.wait_until_trained(model_id, timeout=600, poll_interval=0.1)
        elapsed = time.perf_counter() - start
    assert model.is_trained, model
    return elapsed


def rss_mb(pid: int) -> float:
    """Resident memory of a running process now (VmRSS of /proc/PID/status: Linux), in MB."""
    with open(f"/proc/{pid}/status") as status:
        kilobytes = next(line.split()[1] for line in status if line.startswith("VmRSS:"))
    return int(kilobytes) / 1024.0


def rss_loaded(base_url: str, model_id: str, path: Path, pid: int) -> float:
    """The server's RSS (MB) once it has answered one prediction: the classifier loaded. (Training runs in
    a child process, so the server just trained holds neither the classifier nor NumPy's libraries.)"""
    sdk_predict(base_url, model_id, [path])
    return rss_mb(pid)


def rss_after_predicting(base_url: str, model_id: str, paths: Sequence[Path], pid: int) -> tuple[float, float]:
    """The server's RSS (MB) after its first prediction (``rss_loaded``), then after one `predict_files`
    pass over ``paths``: what predicting keeps (buffers, features, caches) shows as growth."""
    loaded = rss_loaded(base_url, model_id, paths[0], pid)
    sdk_predict(base_url, model_id, paths)
    return loaded, rss_mb(pid)


def synthetic_folder(root: Path, per_category: int, categories: int = 10, start: int = 0) -> Path:
    """root/<category>/NNNNN.png: distinct 28x28 images, a colour per category with noise (no data set needed)."""
    import random

    from PIL import Image

    for k in range(categories):
        folder = root / f"c{k}"
        folder.mkdir(parents=True, exist_ok=True)
        base = (25 * k, 255 - 25 * k, (90 * k) % 256)
        for i in range(start, start + per_category):
            rng = random.Random(k * 1_000_003 + i)
            image = Image.new("RGB", (28, 28), base)
            image.putdata([tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in base) for _ in range(28 * 28)])
            image.save(folder / f"{i:05d}.png")
    return root


def memory_rows(tmp_path: Path, small: int, large: int) -> list[dict[str, object]]:
    """Memory as the work grows, on ``large`` synthetic images against ``small`` of them: the client's
    peak RSS in `nanoclient upload`, `predict --output` and `evaluate`, and the server's RSS after
    predicting the ``large`` set against after training (on the ``small`` one)."""
    per_small, per_large = small // 10, large // 10
    few, many = tmp_path / "few", tmp_path / "many"
    synthetic_folder(many, per_large)
    for category in many.iterdir():  # the small set: the first files of each category, linked
        (few / category.name).mkdir(parents=True)
        for path in sorted(category.iterdir())[:per_small]:
            (few / category.name / path.name).symlink_to(path)
    rows = []
    with local_server(tmp_path / "memory-server") as (url, server_pid):
        categories = sorted(p.name for p in many.iterdir())
        peaks = {}
        for name, folder in (("few", few), ("many", many)):
            model_id = new_model(url, categories)
            peaks[("upload", name)] = peak_rss_mb([*NANOCLIENT, "upload", str(folder)], cli_env(url, model_id))
        trained = new_model(url, categories)
        subprocess.run([*NANOCLIENT, "upload", str(few)], env=cli_env(url, trained), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        train_model(url, trained)
        server_trained = rss_loaded(url, trained, next(few.rglob("*.png")), server_pid)
        for name, folder in (("few", few), ("many", many)):
            out = tmp_path / f"predictions-{name}.jsonl"
            peaks[("predict", name)] = peak_rss_mb([*NANOCLIENT, "predict", str(folder), "--output", str(out)],
                                                   cli_env(url, trained))
            peaks[("evaluate", name)] = peak_rss_mb([*NANOCLIENT, "evaluate", str(folder)], cli_env(url, trained))
        server_predicted = rss_mb(server_pid)
    rows.append({"benchmark": f"server RSS after predicting {large:,} images vs after its first prediction",
                 "baseline": round(server_trained, 1), "nanoclient": round(server_predicted, 1), "unit": "MB",
                 "ratio": round(server_predicted / server_trained, 2), "target": "<= 1.5x"})
    for command in ("upload", "predict --output", "evaluate"):
        key = command.split()[0]
        rows.append({"benchmark": f"client peak RSS, `{command}`, {large:,} vs {small:,} files",
                     "baseline": round(peaks[(key, "few")], 1), "nanoclient": round(peaks[(key, "many")], 1),
                     "unit": "MB", "ratio": round(peaks[(key, "many")] / peaks[(key, "few")], 2), "target": "<= 1.3x"})
    return rows


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """The median of ``runs`` calls of ``measure`` (this machine's timings vary by +-20 %)."""
    return statistics.median(measure() for _ in range(runs))


def paired_runtimes(baseline: Sequence[str], command: Sequence[str], runs: int = 15) -> tuple[float, float, float]:
    """(median wall time of ``baseline``, of ``command``, median of their ratio within a round) over
    ``runs`` rounds, the two run in turn within each round: this machine's speed drifts by tens of
    percent within minutes, and the ratio of two runs a moment apart is what drifts least."""
    times: list[tuple[float, float]] = []
    for _ in range(runs):
        spent = []
        for cmd in (baseline, command):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            spent.append(time.perf_counter() - start)
        times.append((spent[0], spent[1]))
    return (statistics.median(a for a, _ in times), statistics.median(b for _, b in times),
            statistics.median(b / a for a, b in times))


def nanoclient_command() -> list[str]:
    """How a user runs nanoclient: the `nanoclient` script that pip installed beside this Python, else `-m`."""
    script = Path(sys.executable).parent / "nanoclient"
    return [str(script)] if script.exists() else NANOCLIENT


def peak_rss_mb(cmd: Sequence[str], env: dict[str, str]) -> float:
    """Peak resident memory of a command, measured in a fresh wrapper process (MB)."""
    wrapper = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024.0


def default_data_dir() -> Path:
    shared = ROOT.parent / "shared" / "data" / "fashion-mnist-sample" / "train"
    return shared if shared.is_dir() else ROOT / "images" / "shapes" / "train"


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=default_data_dir())
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--quick", action="store_true",
                        help="skip the trainer's benchmarks and use fewer start-up runs")
    parser.add_argument("--trainer-only", action="store_true", help="run only the trainer's benchmarks (6.)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "learning-curve.png",
                        help="where the learning curve is drawn (PNG)")
    parser.add_argument("--test-dir", type=Path,
                        help="labelled images that DATA_DIR does not hold: train on all of DATA_DIR, test on these")
    parser.add_argument("--memory-files", type=int, default=20_000,
                        help="files of the memory benchmarks (against 1,000): synthetic images made here")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each nanoclient upload and prediction; the median is reported")
    args = parser.parse_args(list(argv) or None)

    folder = args.data_dir
    items, _ = find_labelled_images(folder)
    categories = sorted({c for _, c in items})
    print(f"data: {folder} ({len(items)} images, {len(categories)} categories)", file=sys.stderr)
    rows: list[dict[str, object]] = []
    if not args.trainer_only:
        rows += service_rows(args, items)
    if not args.quick:
        rows += trainer_rows(items, args.plot, args.test_dir)

    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
                   f"Python {platform.python_version()}",
        "command": "python scripts/bench.py " + " ".join(argv),
        "data": str(folder),
        "images": len(items),
        "rows": rows,
    }
    print(format_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def service_rows(args: argparse.Namespace, items: Sequence[tuple[Path, str]]) -> list[dict[str, object]]:
    """Benchmarks 1 to 5: nanoclient and the baselines against a local server."""
    ensure_wrapper()
    repeats = max(1, args.repeats)
    folder = args.data_dir
    paths = [p for p, _ in items]
    categories = sorted({c for _, c in items})
    rows: list[dict[str, object]] = []

    def row(name: str, baseline: float, ours: float, unit: str, target: str) -> None:
        ratio = ours / baseline if unit.endswith("/s") else baseline and ours / baseline
        rows.append({"benchmark": name, "baseline": round(baseline, 3), "nanoclient": round(ours, 3),
                     "unit": unit, "ratio": round(ratio, 2), "target": target})
        print(f"  {name}: baseline {baseline:.3g} {unit}, nanoclient {ours:.3g} {unit}, ratio {ratio:.2f}x ({target})",
              file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="nanoclient-bench-") as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "server"
        trained_model = ""
        for latency in (0, 20):
            with local_server(data, "--latency-ms", str(latency)) as (url, server_pid):
                m1 = new_model(url, categories)
                t_tut = tutorial_upload(url, m1, items)
                models = [new_model(url, categories) for _ in range(repeats)]
                t_ours = statistics.median(cli_upload(url, m, folder) for m in models)
                m2 = models[0]
                row(f"upload, {latency} ms latency", len(items) / t_tut, len(items) / t_ours, "images/s",
                    ">= 8x" if latency else ">= 2x")
                t_wrap = median_of(repeats, lambda: wrapper_upload(url, new_model(url, categories), items))
                t_sdk = median_of(repeats, lambda: sdk_upload(url, new_model(url, categories), items))
                row(f"upload vs the official wrapper, {latency} ms latency (SDK)", len(items) / t_wrap,
                    len(items) / t_sdk, "images/s", ">= 4x" if latency else ">= 1x")
                if not trained_model:
                    t_train = train_model(url, m2)
                    trained_model = m2
                    rows.append({"benchmark": "training on all images (server, wall time)",
                                 "nanoclient": round(t_train, 2), "unit": "s", "target": "<= 15 s"})
                    print(f"  training: {t_train:.2f} s", file=sys.stderr)
                    rss_trained, rss_predicted = rss_after_predicting(url, trained_model, paths, server_pid)
                    rows.append({"benchmark": f"server RSS after predicting {len(paths)} images vs after its first "
                                              "prediction", "baseline": round(rss_trained, 1),
                                 "nanoclient": round(rss_predicted, 1), "unit": "MB",
                                 "ratio": round(rss_predicted / rss_trained, 2), "target": "<= 1.5x"})
                    print(f"  server RSS: after its first prediction {rss_trained:.1f} MB, after predicting "
                          f"{rss_predicted:.1f} MB", file=sys.stderr)
                p_tut = tutorial_predict(url, trained_model, paths)
                p_ours = median_of(repeats, functools.partial(sdk_predict, url, trained_model, paths))
                row(f"predict, {latency} ms latency", len(paths) / p_tut, len(paths) / p_ours, "images/s",
                    ">= 10x" if latency else ">= 300 images/s")
                p_wrap = median_of(repeats, functools.partial(wrapper_predict, url, trained_model, paths, categories))
                row(f"predict vs the official wrapper, {latency} ms latency", len(paths) / p_wrap,
                    len(paths) / p_ours, "images/s", "")

        for memory_row in memory_rows(tmp_path, small=1000, large=args.memory_files):
            rows.append(memory_row)
            print(f"  {memory_row['benchmark']}: {memory_row['baseline']} -> {memory_row['nanoclient']} MB",
                  file=sys.stderr)

    runs = 5 if args.quick else 21
    # as `pip install` does: without bytecode the first run of each module compiles it
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "nanoclient")], check=True,
                   stdout=subprocess.DEVNULL)
    t_requests, t_help, ratio = paired_runtimes([sys.executable, "-c", "import requests"],
                                                [*nanoclient_command(), "--help"], runs)
    rows.append({"benchmark": f"start-up: `nanoclient --help` vs `import requests` (median of {runs} paired runs)",
                 "baseline": round(t_requests * 1000, 1), "nanoclient": round(t_help * 1000, 1), "unit": "ms",
                 "ratio": round(ratio, 2), "target": "<= 0.5x"})
    print(f"  start-up: requests {t_requests*1000:.0f} ms, nanoclient --help {t_help*1000:.0f} ms", file=sys.stderr)

    return rows


def trainer_rows(items: Sequence[tuple[Path, str]], plot: Path, test_dir: Path | None = None
                 ) -> list[dict[str, object]]:
    """Benchmark 6: the trainer's accuracy, calibration and learning curve, the project's shapes, and
    (``test_dir``) trained on all of ``items``, the accuracy on other images."""
    import numpy as np

    from nanoclient.server.image_categorization import trainer

    paths, labels = [str(p) for p, _ in items], [c for _, c in items]
    rows: list[dict[str, object]] = []
    start = time.perf_counter()
    runs = {seed: trainer.cross_validate(paths, labels, folds=5, seed=seed) for seed in CV_SEEDS}
    means = {seed: statistics.mean(run.scores) for seed, run in runs.items()}
    rows.append({"benchmark": f"trainer: stratified 5-fold accuracy, median of {len(CV_SEEDS)} seeds of the split",
                 "nanoclient": round(statistics.median(means.values()), 4), "unit": "accuracy", "target": ">= 0.875",
                 "folds": {str(seed): [round(s, 4) for s in run.scores] for seed, run in runs.items()},
                 "means": {str(seed): round(mean, 4) for seed, mean in means.items()},
                 "seconds": round(time.perf_counter() - start, 1)})
    confidence = np.concatenate([r.confidence for r in runs.values()])
    correct = np.concatenate([r.correct for r in runs.values()])
    rows.append({"benchmark": "trainer: expected calibration error of the top probability (the same folds)",
                 "nanoclient": round(trainer.calibration_error(confidence, correct), 4), "unit": "", "target": "",
                 "mean_confidence": round(float(confidence.mean()), 4), "accuracy": round(float(correct.mean()), 4)})
    for seed, run in runs.items():
        print(f"  5-fold, seed {seed}: {' '.join(f'{s:.3f}' for s in run.scores)} (mean {means[seed]:.4f})",
              file=sys.stderr)

    curve = learning_curve(paths, labels)
    for size, scores in curve.items():
        row: dict[str, object] = {"benchmark": f"learning curve: {size} training images per category",
                                  "nanoclient": round(statistics.mean(scores), 4), "unit": "accuracy",
                                  "target": "", "draws": [round(s, 4) for s in scores]}
        if size == 100:
            row.update(baseline=TUTORIAL_ACCURACY, ratio=round(statistics.mean(scores) / TUTORIAL_ACCURACY, 2))
        rows.append(row)
        print(f"  learning curve, {size} per category: {statistics.mean(scores):.4f}", file=sys.stderr)
    draw_learning_curve(curve, plot)

    shapes_train, _ = find_labelled_images(ROOT / "images" / "shapes" / "train")
    shapes_test, _ = find_labelled_images(ROOT / "images" / "shapes" / "test")
    accuracy, _ = trained_accuracy(shapes_train, shapes_test)
    name = f"shapes: images/shapes/train ({len(shapes_train)}) -> images/shapes/test ({len(shapes_test)})"
    rows.append({"benchmark": name,
                 "nanoclient": round(accuracy, 4), "unit": "accuracy", "target": ">= 0.96"})
    print(f"  shapes: {accuracy:.3f}", file=sys.stderr)
    if test_dir is not None:
        tests, _ = find_labelled_images(test_dir)
        accuracy, held_out = trained_accuracy(items, tests)
        rows.append({"benchmark": f"trainer: trained on all {len(items):,} images, tested on {len(tests):,} others "
                                  f"({test_dir.name})", "nanoclient": round(accuracy, 4), "unit": "accuracy",
                     "target": ">= 0.86", "held_out": None if held_out is None else round(held_out, 4)})
        print(f"  trained on all {len(items)}, tested on {len(tests)} others: {accuracy:.4f}", file=sys.stderr)
    return rows


def trained_accuracy(train: Sequence[tuple[Path, str]], test: Sequence[tuple[Path, str]]) -> tuple[float, float | None]:
    """Trained on ``train`` as the server trains: the accuracy on ``test``, and the held-out accuracy
    ``train`` reported."""
    import numpy as np

    from nanoclient.server.image_categorization import trainer

    trained = trainer.train([str(p) for p, _ in train], [c for _, c in train])
    probabilities = trained.classifier.predict_proba([str(p) for p, _ in test])
    predicted = np.asarray(trained.classifier.labels)[probabilities.argmax(axis=1)]
    return float((predicted == np.asarray([c for _, c in test])).mean()), trained.accuracy


def learning_curve(paths: Sequence[str], labels: Sequence[str]) -> dict[int, list[float]]:
    """Accuracy with CURVE_SIZES training images per category, trained as the server trains.

    Each of CURVE_DRAWS draws sets aside CURVE_TEST random images of every category to test on
    (the same test for every size, and balanced, as the tutorial's test set is), then draws each
    size's training images at random from the others.
    """
    import numpy as np

    from nanoclient.server.image_categorization import trainer

    y = np.asarray(labels)
    curve: dict[int, list[float]] = {size: [] for size in CURVE_SIZES}
    for draw in range(CURVE_DRAWS):
        rng = np.random.default_rng(draw)
        shuffled = {c: rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)}
        test = np.concatenate([order[:CURVE_TEST] for order in shuffled.values()])
        for size in CURVE_SIZES:
            chosen = np.concatenate([order[CURVE_TEST:CURVE_TEST + size] for order in shuffled.values()])
            classifier = trainer.train([paths[i] for i in chosen], list(y[chosen]), seed=draw).classifier
            probabilities = classifier.predict_proba([paths[i] for i in test])
            curve[size].append(float((np.asarray(classifier.labels)[probabilities.argmax(axis=1)] == y[test]).mean()))
    return curve


def draw_learning_curve(curve: dict[int, list[float]], path: Path) -> None:
    """The learning curve as a PNG, with the tutorial's hosted result as a reference point."""
    try:
        import matplotlib
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"], check=True)
        import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    sizes = list(curve)
    means = [statistics.mean(curve[s]) for s in sizes]
    spread = [statistics.stdev(curve[s]) if len(curve[s]) > 1 else 0.0 for s in sizes]
    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    axes.errorbar(sizes, means, yerr=spread, marker="o", capsize=4, color="#2563eb",
                  label=f"nanoclient serve (mean of {CURVE_DRAWS} draws, ± 1 s.d.)")
    for size, mean in zip(sizes, means, strict=True):
        axes.annotate(f"{mean:.3f}", (size, mean), textcoords="offset points", xytext=(0, 9), ha="center", fontsize=8)
    axes.scatter([100], [TUTORIAL_ACCURACY], marker="*", s=160, color="#dc2626", zorder=3,
                 label=f"Nanonets hosted, the tutorial's result ({TUTORIAL_ACCURACY:.1%})")
    axes.set_xscale("log")
    axes.set_xticks(sizes, [str(s) for s in sizes])
    axes.set_xlabel("training images per category")
    axes.set_ylabel("accuracy on the other images")
    axes.set_title("Fashion-MNIST sample (10 categories): how many images are needed?", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    print(f"  learning curve drawn to {path}", file=sys.stderr)


def format_table(result: dict[str, object]) -> str:
    """The results as a Markdown table, ready for docs/benchmarks.md."""
    lines = [
        f"{result['date']}, {result['machine']}, {result['images']} images",
        "",
        "| benchmark | tutorial's way / baseline | nanoclient | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:  # type: ignore[union-attr]
        base = f"{_figure(r['baseline'])} {r['unit']}" if "baseline" in r else ""
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
        ours = f"{_figure(r['nanoclient'])} {r['unit']}"
        lines.append(f"| {r['benchmark']} | {base} | {ours} | {ratio} | {r['target']} |")
    return "\n".join(lines)


def _figure(value: float) -> str:
    """Three significant figures, and whole numbers from 100 up (846, 36.2, 0.860)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:#.3g}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
