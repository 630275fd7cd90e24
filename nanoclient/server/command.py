"""The ``nanoclient serve`` command (also ``python -m nanoclient.server``).

Only click and the standard library are imported here; everything heavy is imported when the command runs, so
that registering it in the main CLI keeps ``nanoclient --help`` fast.
"""
from __future__ import annotations

from pathlib import Path

import click

from .config import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_THREADS, ServerConfig  # light: the standard library only

#: The defaults are ServerConfig's (and config.py's for where to listen): stated once, shown by --help.
_DEFAULT = ServerConfig
_MB = 1024 * 1024


@click.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. Anything but loopback needs --api-key.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 takes a free one (the printed URL shows which).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where models, images and classifiers are kept [default: the per-user data folder].")
@click.option("--api-key", "api_keys", multiple=True, metavar="KEY",
              help="Accept only this key (repeatable; or NANOCLIENT_SERVER_API_KEYS=k1,k2). "
                   "Without it any non-empty key works and each key is its own account.")
@click.option("--min-images", default=_DEFAULT.min_images, show_default=True, type=click.IntRange(min=1),
              help="Images every category needs before training.")
@click.option("--latency-ms", default=_DEFAULT.latency_ms, show_default=True, type=click.FloatRange(min=0),
              help="Delay every API response by this much (for testing clients).")
@click.option("--fail-rate", default=_DEFAULT.fail_rate, show_default=True, type=click.FloatRange(0, 1),
              help="Answer this fraction of API requests with 503 (for testing clients).")
@click.option("--fail-after-rate", default=_DEFAULT.fail_after_rate, show_default=True, type=click.FloatRange(0, 1),
              help="Process this fraction of uploads, model creations and Train requests, then answer "
                   "500 or drop the connection instead (half each): a client that resends blindly stores "
                   "twice (for testing clients).")
@click.option("--fail-seed", type=int, default=_DEFAULT.fail_seed, metavar="N",
              help="Seed for --fail-rate, --fail-after-rate and --shuffle-results, for reproducible tests "
                   "[default: random].")
@click.option("--dedupe/--no-dedupe", default=_DEFAULT.dedupe, show_default=True,
              help="Count identical bytes uploaded to the same model and category once, and say so in the "
                   "Nanoclient-Dedupe response header. --no-dedupe counts every file, for testing clients: "
                   "the hosted service promises no deduplication.")
@click.option("--shuffle-results", is_flag=True, default=_DEFAULT.shuffle_results,
              help="Answer LabelFile and LabelUrls results in a random order, for testing clients: the "
                   "hosted service promises no order.")
@click.option("--max-upload-mb", default=_DEFAULT.max_upload_mb, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Largest request accepted; larger ones get 413.")
@click.option("--fetch-timeout", default=_DEFAULT.fetch_timeout, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Seconds allowed to fetch one image URL (UploadUrls, LabelUrls).")
@click.option("--fetch-max-mb", default=_DEFAULT.fetch_max_bytes / _MB, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Largest image fetched from a URL.")
@click.option("--classifier-cache", default=_DEFAULT.classifier_cache, show_default=True, type=click.IntRange(min=1),
              metavar="N", help="Keep the trained classifiers of at most N models loaded, the most recently used: "
                                "this bounds the server's memory; another model's is read from disk again.")
@click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=click.IntRange(min=1),
              help="Requests served at the same time.")
@click.option("--verbose", "-v", is_flag=True, help="Log every training run and more to stderr.")
def serve(host: str, port: int, data_dir: Path | None, api_keys: tuple[str, ...], min_images: int,
          latency_ms: float, fail_rate: float, fail_after_rate: float, fail_seed: int | None, dedupe: bool,
          shuffle_results: bool, max_upload_mb: float, fetch_timeout: float, fetch_max_mb: float,
          classifier_cache: int, threads: int, verbose: bool) -> None:
    """Run the Nanonets API (every model type) on this machine, with real storage and training.

    Prints the base URL (http://HOST:PORT/api/v2) once it accepts connections, and on
    stderr the dashboard's (http://HOST:PORT/: open it, sign in with an API key), then
    serves until Ctrl-C or SIGTERM. Everything is kept in --data-dir and survives a restart.
    The only command without --json: it prints its URL, then serves.

    \b
    Examples:
      nanoclient serve --port 8765 &    # NANONETS_BASE_URL=http://127.0.0.1:8765/api/v2
      nanoclient serve --port 0 --data-dir /tmp/nano --min-images 5
      nanoclient serve --no-dedupe --shuffle-results --fail-after-rate 0.3
    """
    import logging
    import os

    from .config import keys_from_env
    from .serve import is_loopback, one_thread_per_computation, run_server

    keys = tuple(k for k in api_keys if k) or keys_from_env()
    if not keys and not is_loopback(host):
        raise click.UsageError(
            f"refusing to listen on {host} without --api-key: anyone who can reach it could use it. "
            "Pass --api-key KEY (or set NANOCLIENT_SERVER_API_KEYS), or listen on 127.0.0.1."
        )
    one_thread_per_computation(os.environ)  # before the trainer's import loads NumPy
    try:
        import flask  # noqa: F401
        import numpy  # noqa: F401  (scikit-learn is loaded by a learner when it first trains)
        import waitress  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(
            f"the local server needs its extra dependencies ({exc.name} is missing): "
            "pip install 'nanoclient[server]'"
        ) from None
    if data_dir is None:
        import platformdirs

        data_dir = Path(platformdirs.user_data_dir("nanoclient"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    from .store import StoreLockedError, StoreVersionError

    try:
        config = ServerConfig(
            data_dir=data_dir,
            api_keys=keys,
            min_images=min_images,
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            fail_after_rate=fail_after_rate,
            fail_seed=fail_seed,
            dedupe=dedupe,
            shuffle_results=shuffle_results,
            max_upload_mb=max_upload_mb,
            fetch_timeout=fetch_timeout,
            fetch_max_bytes=int(fetch_max_mb * _MB),
            classifier_cache=classifier_cache,
        )
        click.echo(
            f"nanoclient server: data in {config.data_dir}; "
            + (f"{len(keys)} API key(s) accepted" if keys else "any API key accepted, one account per key")
            + "".join(f"; {unkind}" for unkind in _unkindnesses(config)),
            err=True,
        )
        run_server(config, host=host, port=port, threads=threads)
    except (StoreLockedError, StoreVersionError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def _unkindnesses(config: ServerConfig) -> tuple[str, ...]:
    """The kindnesses dropped and faults injected, as the start-up banner names them."""
    notes = []
    if not config.dedupe:
        notes.append("deduplication off")
    if config.shuffle_results:
        notes.append("results shuffled")
    if config.fail_rate:
        notes.append(f"{config.fail_rate:g} of requests fail before processing")
    if config.fail_after_rate:
        notes.append(f"{config.fail_after_rate:g} of mutating requests fail after processing")
    return tuple(notes)
