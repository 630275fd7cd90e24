"""The dashboard: one page (index.html, app.js, style.css) shipped in the package, served at ``/``.

Plain HTML, CSS and JavaScript, written by hand: no build step, no library, nothing loaded
from the network. The page signs in with an API key (kept in the tab's sessionStorage) and
calls the API and the local extension (``/local/v1``) with it, as Basic auth, from its own
scripts. Its Content-Security-Policy (``PAGE_CSP``) allows only its own origin and no inline
script or style; what the server stores (category and file names) is only ever set as text.

This module only names the files and the policy; ``app.py`` serves them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

#: The policy of the dashboard's own responses.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
#: The policy of every other response (JSON, images): nothing may run or load from it.
NOTHING_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: A stored evaluation report, opened through a link: its own inline styles and script run, in a
#: sandbox (an opaque origin, so it cannot read the dashboard's storage or call the API as it).
REPORT_CSP = ("sandbox allow-scripts; default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
              "img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

#: The files of the page, by the name under which they are served (``/`` is index.html).
_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    """One file of the page: its bytes, media type and ETag (a hash of the bytes)."""

    name: str
    data: bytes
    media_type: str

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:32]


def assets() -> dict[str, Asset]:
    """Every file of the page, read from the package."""
    folder = resources.files(__name__)
    return {name: Asset(name, folder.joinpath(name).read_bytes(), media) for name, media in _FILES.items()}


__all__ = ["NOTHING_CSP", "PAGE_CSP", "REPORT_CSP", "Asset", "assets"]
