"""Typical user code, type-checked with ``mypy --strict`` by tests/test_typing.py (never run).

If the package's public names stop being explicit re-exports, or a public signature loses its
types, mypy fails on this file the way it would on a user's project.
"""
from __future__ import annotations

from pathlib import Path

from nanoclient import Client, Model, Prediction, UploadReport, errors


def labelled(folder: Path) -> list[tuple[Path, str]]:
    return [(path, path.parent.name) for path in sorted(folder.glob("*/*.png"))]


def train_on(client: Client, folder: Path) -> Model:
    model: Model = client.create_model(sorted(p.name for p in folder.iterdir() if p.is_dir()))
    report: UploadReport = client.upload_files(model.id, labelled(folder), progress=lambda n: None)
    if not report.ok:
        failed: list[str] = [path for path, _ in report.failed] + [path for path, _ in report.unsettled]
        raise SystemExit(f"{len(failed)} files were not stored")
    client.train(model.id)
    try:
        return client.wait_until_trained(model.id, timeout=600, on_update=lambda m: print(m.state, m.status))
    except errors.TrainingFailedError as exc:
        raise SystemExit(f"training failed: {exc.model.status if exc.model else exc.message}") from exc
    except errors.TrainingTimeoutError:
        return client.get_model(model.id)


def best_labels(client: Client, model: Model, paths: list[Path]) -> dict[str, str]:
    try:
        predictions: list[Prediction] = client.predict_files(model.id, paths, batch_size=10)
    except errors.APIConnectionError as exc:
        raise SystemExit(f"cannot reach the server (sent: {exc.request_sent})") from exc
    except errors.APIStatusError as exc:
        status: int | None = exc.status
        raise SystemExit(f"the server said {status}: {exc.message}") from exc
    return {p.file: p.label for p in predictions if p.probability >= 0.5}


def resume_upload(client: Client, model: Model, folder: Path) -> int:
    """An upload that a restart of the program resumes (an upload journal), through the resource's name."""
    from nanoclient import UploadInProgressError, UploadJournal

    journal = UploadJournal.for_model(client.base_url, model.id, wait=False)
    try:
        report = client.image_categorization.upload_files(model.id, labelled(folder), journal=journal,
                                                          resend="unsettled")
    except UploadInProgressError as exc:
        raise SystemExit(f"another upload runs (process {exc.pid})") from exc
    return len(report.uploaded) + len(report.already)


def main() -> None:
    with Client("key", "http://127.0.0.1:8765/api/v2", timeout=10.0, max_retries=2) as client:
        model = train_on(client, Path("images/shapes/train"))
        print(resume_upload(client, model, Path("images/shapes/train")))
        accuracy: float | None = model.accuracy
        print(accuracy, best_labels(client, model, sorted(Path("images/shapes/test").rglob("*.png"))))
