"""Security warnings of the sources, where an application that configured no logging sees them too.

The library only adds a ``NullHandler``, so a warning that is merely logged is invisible to an
application that has not configured logging. Each one is therefore also issued through
:mod:`warnings` as :class:`~common_plugin.exceptions.InsecureTransportWarning` (shown once per
endpoint under the default filters; ``warnings.simplefilter("error", InsecureTransportWarning)``
turns such a configuration into an error).
"""

from __future__ import annotations

import logging
import threading
import warnings

from ..exceptions import InsecureTransportWarning

__all__ = ["warn_insecure_transport"]

_LOGGER = logging.getLogger(__name__)
_logged: set[str] = set()
_logged_lock = threading.Lock()


def warn_insecure_transport(message: str, *, log: bool = True) -> None:
    """Issue ``message`` as an InsecureTransportWarning, and log it at WARNING once per process.

    Args:
        message: names the endpoint and the option that allowed it; never a secret.
        log: ``False`` when the caller already logs it (the DKMS source logs its own).
    """
    warnings.warn(message, InsecureTransportWarning, stacklevel=3)
    if log:
        with _logged_lock:
            first = message not in _logged
            _logged.add(message)
        if first:
            _LOGGER.warning("%s", message)
