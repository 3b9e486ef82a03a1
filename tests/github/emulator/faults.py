"""Injected faults: queued with `inject`, answered instead of the emulated API."""

from __future__ import annotations

import re
from typing import Any

from tests.github.emulator.model import DOCS, _Answer, _error_body, _Fault
from tests.github.emulator.packages import _Packages

_FAULT_MESSAGES = {
    401: "Bad credentials",
    403: (
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
        "again. If you reach out to GitHub Support for help, please include the request ID."
    ),
    404: "Not Found",
    409: "Conflict",
    422: "Validation Failed",
    429: "API rate limit exceeded.",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
    504: "We couldn't respond to your request in time.",
}


class _Faults(_Packages):
    def inject(
        self,
        method: str,
        path_regex: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        reset_connection: bool = False,
        times: int = 1,
    ) -> None:
        """The next `times` requests whose method matches (`*` = any) and whose path
        (without query) matches `path_regex` (re.search) get this fault."""
        if not reset_connection and status is None:
            raise ValueError("inject needs a status, or reset_connection=True")
        if times < 1:
            raise ValueError(f"inject times must be >= 1, got {times}")
        with self._lock:
            self._faults.append(
                _Fault(
                    method.upper(),
                    re.compile(path_regex),
                    status,
                    dict(headers or {}),
                    body,
                    reset_connection,
                    times,
                )
            )

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", method) and fault.pattern.search(path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_answer(self, fault: _Fault) -> _Answer:
        assert fault.status is not None
        if fault.body is None:
            message = _FAULT_MESSAGES.get(fault.status, "Server Error")
            body = None if fault.status == 304 else _error_body(fault.status, message, DOCS)
            return _Answer(fault.status, body, dict(fault.headers))
        if isinstance(fault.body, bytes | str):
            raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
            return _Answer(fault.status, None, dict(fault.headers), raw=raw)
        return _Answer(fault.status, fault.body, dict(fault.headers))
