"""Running the local server: waitress in front of the app, the base URL printed once it listens."""
from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import MutableMapping
from typing import TextIO

from .config import API_ROOT, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_THREADS, ServerConfig

log = logging.getLogger("nanoclient.server")

#: Requests waitress reads ahead on one connection while one is served; above 0 it also tells the app when the
#: client has disconnected (OCR predictions stop reading then).
CLIENT_LOOKAHEAD = 2
#: What the numerical libraries (OpenBLAS, OpenMP, MKL) read, once, for how many threads one computation uses.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread_per_computation(environ: MutableMapping[str, str]) -> bool:
    """Have each NumPy, SciPy and scikit-learn computation of this process run on one thread, unless the
    user set any of THREAD_VARIABLES (then all are left as they are); True if it did.

    The server runs its computations side by side itself (a prediction per core, training beside them);
    each spreading over every core as well oversubscribes them. Measured on 2 cores, in process: two
    prediction threads made 2,000 images/s with one thread each, 1,100 with two; a training during
    predictions took 8.3 s against 14.4 s; a training alone 6.4 s against 5.0 s. Takes effect for the
    libraries loaded after it: call it before importing NumPy.
    """
    if any(name in environ for name in THREAD_VARIABLES):
        return False
    environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    return True


def is_loopback(host: str) -> bool:
    """True if ``host`` only ever means this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]")
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    if name.lower() == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def base_url(host: str, port: int) -> str:
    """The API's base URL for a listening address, e.g. http://127.0.0.1:8765/api/v2."""
    name = host.strip("[]")
    if ":" in name:  # IPv6 literal
        name = f"[{name}]"
    return f"http://{name}:{port}{API_ROOT}"


def dashboard_url(host: str, port: int) -> str:
    """The dashboard's URL for a listening address, e.g. http://127.0.0.1:8765/."""
    return base_url(host, port)[: -len(API_ROOT)] + "/"


_TLS_REFUSAL_BODY = b"This is a plain-HTTP server: use http://, not https://.\n"
#: What a client that sent a TLS handshake to this plain-HTTP port gets at once: not TLS, so its TLS layer
#: fails on the spot ("wrong version number") instead of waiting for an answer until its timeout.
TLS_REFUSAL = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(_TLS_REFUSAL_BODY), _TLS_REFUSAL_BODY))


#: The first byte of a TLS record that carries a handshake (a ClientHello opens every TLS connection).
TLS_HANDSHAKE = b"\x16"


def plain_http_channel() -> type:
    """waitress's connection class, but a connection that opens with a TLS handshake record (https:// to
    this plain-HTTP port) is answered with TLS_REFUSAL and closed at once; waitress alone waits for a
    request line that never comes, and the client for its timeout (30 s)."""
    from waitress.channel import HTTPChannel

    class PlainHTTPChannel(HTTPChannel):  # type: ignore[misc]
        _first = True

        def received(self, data: bytes) -> bool:
            # runs on waitress's main loop; the refusal is far below the buffer's high-water mark, so
            # write_soon does not wait, and once close_when_flushed is set waitress ignores what follows
            if self._first and data:
                self._first = False
                if data[:1] == TLS_HANDSHAKE:  # no HTTP request starts with this byte
                    self.write_soon(TLS_REFUSAL)
                    self.close_when_flushed = True
                    return False
            return bool(super().received(data))

    return PlainHTTPChannel


def answer_tls_at_once(server: object) -> None:
    """Give every listening socket of a waitress server (one, or several for a name with IPv4 and IPv6
    addresses) the connection class of ``plain_http_channel``."""
    from waitress.server import BaseWSGIServer

    channel = plain_http_channel()
    listeners = [server, *getattr(server, "map", {}).values()]
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = channel


def run_server(config: ServerConfig, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
               threads: int = DEFAULT_THREADS, out: TextIO | None = None, err: TextIO | None = None) -> None:
    """Serve until SIGTERM or SIGINT; print the base URL on ``out`` (stdout) once listening, alone
    on its line (scripts read it), and the dashboard's URL on ``err`` (stderr).

    On stop, training in progress is abandoned: its run is taken up again by the next start
    on the same data folder.
    """
    from waitress.server import create_server

    from .app import EXTENSION, DropMarkedConnections, create_app

    app = create_app(config)
    backend = app.extensions[EXTENSION]["backend"]
    try:
        server = create_server(
            DropMarkedConnections(app),  # --fail-after-rate's dropped connections
            host=host,
            port=port,
            threads=threads,
            ident="nanoclient",
            # waitress's own limit only guards the disk; the app answers 413 with a JSON body below it
            max_request_body_size=config.max_upload_bytes * 4 + (1 << 20),
            clear_untrusted_proxy_headers=True,
            # waitress watches each connection while its request runs, so that the app can see a client that
            # has gone (environ["waitress.client_disconnected"]) and stop reading its document's pages
            channel_request_lookahead=CLIENT_LOOKAHEAD,
        )
    except BaseException:
        backend.close(wait=False)
        raise
    answer_tls_at_once(server)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # waitress's loop shuts its threads down on this

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        url = base_url(host, server.effective_port)
        print(url, file=out or sys.stdout, flush=True)
        print(f"dashboard: {dashboard_url(host, server.effective_port)} (sign in with an API key)",
              file=err or sys.stderr, flush=True)
        log.info("serving %s (data in %s)", url, config.data_dir)
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()
        backend.close(wait=False)
        log.info("stopped")
