"""One TLS context for every provider client.

Building an HTTP client without a context loads the CA bundle each time (16 ms here, over
100 ms under load), holding the GIL, so even a client built in a thread stalls the event loop.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache


@lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """A verifying context: SSL_CERT_FILE / SSL_CERT_DIR if set, else certifi's CA bundle."""
    cafile = os.environ.get("SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    if not cafile and not capath:
        import certifi

        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile, capath=capath)
