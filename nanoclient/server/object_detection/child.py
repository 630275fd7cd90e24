"""Training a detector in a child process, for ``nanoclient serve``: its requests are never held up by training.

dlib's training steps hold the interpreter's lock for seconds at a time; in a thread of the server they would
stall every request meanwhile (up to 2.4 s measured on 2 busy cores). ``train_in_child`` runs ``fit`` in
``python -m nanoclient.server.object_detection.child JOB OUT`` instead, at a lower priority:

* the job (the image files, their boxes, the categories) comes in a JSON file; the detector goes out to OUT;
* the child says its status one JSON line at a time on stdout (``{"status": ...}``), then its last line:
  ``{"accuracy", "measured_on"}`` or ``{"error", "kind"}``;
* it ends when the server's end of its stdin closes (the server stopped or died).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .fit import TrueBox


def train_in_child(image_paths: Sequence[Path], boxes: Sequence[Sequence[TrueBox]], labels: Sequence[str],
                   out: Path, *, say: Callable[[str], object]) -> tuple[float | None, int]:
    """Run ``fit`` in a child process writing the detector to ``out``; return (estimated mAP@0.5, images it was
    measured on). ValueError (the learner's own, saying what to do) or RuntimeError (the child failed) else."""
    with tempfile.TemporaryDirectory(prefix="nanoclient-detection-job-") as folder:
        job = Path(folder) / "job.json"
        job.write_text(json.dumps({"images": [str(p) for p in image_paths], "labels": list(labels),
                                   "boxes": [[list(box) for box in image] for image in boxes]}))
        proc = subprocess.Popen([sys.executable, "-m", __name__, str(job), str(out)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        errors: list[str] = []
        drain = threading.Thread(target=lambda: errors.extend(proc.stderr.readlines()) if proc.stderr else None,
                                 daemon=True)
        drain.start()
        last: dict[str, object] = {}
        try:
            for line in proc.stdout:
                try:
                    said = json.loads(line)
                except ValueError:
                    continue
                if isinstance(said, dict) and "status" in said:
                    say(str(said["status"]))
                elif isinstance(said, dict):
                    last = said
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
        drain.join(5)
    if "error" in last:
        kind = ValueError if last.get("kind") == "ValueError" else RuntimeError
        raise kind(str(last["error"]))
    if code != 0 or "accuracy" not in last:
        tail = "".join(errors[-3:]).strip()
        raise RuntimeError(f"the training process ended with code {code}" + (f": {tail}" if tail else ""))
    accuracy = last["accuracy"]
    measured_on = last.get("measured_on", 0)
    return (None if accuracy is None else float(str(accuracy))), int(str(measured_on))


def main(argv: Sequence[str]) -> int:
    """The child: read the job, fit, write the detector, say the result (see the module's description)."""
    job_path, out = argv

    def say(record: dict[str, object]) -> None:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()

    def orphaned() -> None:  # the server's end of stdin closed: it stopped or died
        sys.stdin.read()
        os._exit(1)

    threading.Thread(target=orphaned, daemon=True).start()
    try:
        os.nice(5)
    except OSError:
        pass
    try:
        from .fit import fit

        job = json.loads(Path(job_path).read_text())
        images = [Path(path).read_bytes() for path in job["images"]]
        boxes = [[(str(b[0]), int(b[1]), int(b[2]), int(b[3]), int(b[4])) for b in image] for image in job["boxes"]]
        detector, accuracy, measured_on = fit(images, boxes, job["labels"], say=lambda text: say({"status": text}))
        detector.save(out)
    except Exception as exc:
        say({"error": str(exc) or type(exc).__name__, "kind": type(exc).__name__})
        return 1
    say({"accuracy": accuracy, "measured_on": measured_on})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
