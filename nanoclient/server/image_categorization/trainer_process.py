"""Training in a child process, for ``nanoclient serve``: the server stays small, responsive and alive.

``ProcessTrainer`` is a ``protocols.Trainer`` that runs a trainer module's ``train`` in
``python -m nanoclient.server.image_categorization.trainer_process``:

* the memory training takes (the feature matrix: 940 MB for 60,000 images) is the child's, and is
  handed back to the system when it exits, whatever the allocator would have kept;
* a training that runs out of memory (``MemoryError``, or the system killing the child) ends as a
  failed run saying so, never as a dead server;
* the child uses every core (``threads`` BLAS threads, ``workers`` decoding threads) at a lower
  priority (``nice``), so the server's own prediction threads go first when they run, and its
  requests are never held up by the child's Python work (another interpreter, another GIL);
* the child tells how far it is, one JSON line at a time on its stdout, and ends when the server's
  end of its stdin closes (the server stopped or died).

The job (image paths and labels) goes to the child in a JSON file, the classifier comes back as
the file ``save`` writes, and one last line carries its held-out accuracy or the error.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from .protocols import ClassifierLoader, TrainedClassifier

#: The trainer module the child runs (``train`` and ``Classifier``).
DEFAULT_MODULE = "nanoclient.server.image_categorization.trainer"
#: Environment variables that size the thread pools of NumPy's BLAS (and OpenMP) in the child.
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class TrainingMemoryError(MemoryError):
    """Training needed more memory than the machine (or its limit) could give."""


class ProcessTrainer:
    """Runs ``module.train(images, labels, workers=..., progress=...)`` in a child process (see the module's
    docstring); ``Classifier`` loads what it saved. ``threads`` and ``workers`` default to the machine's cores."""

    def __init__(self, module: str = DEFAULT_MODULE, *, threads: int | None = None, workers: int | None = None,
                 nice: int = 10, work_dir: str | os.PathLike[str] | None = None) -> None:
        cores = os.cpu_count() or 1
        self.module = module
        self.threads = threads or cores
        self.workers = workers or cores
        self.nice = nice
        self.work_dir = None if work_dir is None else Path(work_dir)

    @property
    def Classifier(self) -> ClassifierLoader:  # noqa: N802 - the name protocols.Trainer gives it
        import importlib

        loader: ClassifierLoader = importlib.import_module(self.module).Classifier
        return loader

    def train(self, images: Sequence[str], labels: Sequence[str], *,
              progress: Callable[[str], object] | None = None) -> tuple[TrainedClassifier, float | None, int]:
        """Train in a child process; raise ValueError (the trainer's message), TrainingMemoryError, or
        RuntimeError for anything else that ended the child."""
        with tempfile.TemporaryDirectory(prefix="nanoclient-train-", dir=self.work_dir) as folder:
            job, out = Path(folder) / "job.json", Path(folder) / "classifier.npz"
            job.write_text(json.dumps({"module": self.module, "images": list(images), "labels": list(labels),
                                       "out": str(out), "workers": self.workers, "nice": self.nice}))
            env = dict(os.environ, **dict.fromkeys(_THREAD_VARIABLES, str(self.threads)))
            child = subprocess.Popen([sys.executable, "-m", __name__, str(job)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True)
            try:
                last = _follow(child.stdout, progress)
            finally:
                if child.stdin is not None:
                    child.stdin.close()  # the child ends when this closes, if it has not yet
                code = child.wait()
            if "error" in last:
                kind, message = last.get("type"), str(last["error"])
                if kind == "ValueError":
                    raise ValueError(message)
                if kind == "MemoryError":
                    raise TrainingMemoryError(f"Training ran out of memory on {len(images)} images ({message})")
                raise RuntimeError(f"{kind}: {message}")
            if code != 0 or "accuracy" not in last:
                if code in (-signal.SIGKILL, 128 + signal.SIGKILL):
                    raise TrainingMemoryError(f"Training on {len(images)} images was killed by the system, most "
                                              "likely for lack of memory")
                raise RuntimeError(f"the training process ended with exit code {code}")
            classifier = self.Classifier.load(str(out))
        accuracy = last["accuracy"]
        return classifier, None if accuracy is None else float(accuracy), int(last.get("held_out") or 0)


def _follow(stream: IO[str] | None, progress: Callable[[str], object] | None) -> dict[str, Any]:
    """Read the child's lines until it closes its stdout: tell each progress line, return the last other one."""
    last: dict[str, Any] = {}
    for line in stream or ():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        if "progress" in message:
            if progress is not None:
                progress(str(message["progress"]))
        else:
            last = message
    return last


# ---------------------------------------------------------------------- the child


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _end_with_parent() -> None:
    """Exit as soon as the parent's end of stdin closes (it stopped, or died)."""
    sys.stdin.read()
    os._exit(3)


def main(argv: Sequence[str]) -> int:
    """The child: run the job in ``argv[0]`` (see ``ProcessTrainer.train``)."""
    job = json.loads(Path(argv[0]).read_text())
    threading.Thread(target=_end_with_parent, daemon=True).start()
    try:
        os.nice(int(job.get("nice") or 0))
    except OSError:
        pass
    try:
        import importlib

        module = importlib.import_module(job["module"])
        trained = module.train(job["images"], job["labels"], workers=int(job["workers"]),
                               progress=lambda text: _say({"progress": text}))
        trained.classifier.save(job["out"])
    except MemoryError as exc:
        _say({"error": str(exc) or "no more memory could be had", "type": "MemoryError"})
        return 1
    except Exception as exc:  # told to the server, which fails the run with it
        _say({"error": str(exc) or type(exc).__name__, "type": type(exc).__name__})
        return 1
    _say({"accuracy": trained.accuracy, "held_out": trained.held_out})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["DEFAULT_MODULE", "ProcessTrainer", "TrainingMemoryError"]
