"""A one-line progress bar on stderr: items, bytes, rate and ETA. Silent unless stderr is a TTY.

Totals may become known while the work runs (a lister thread counts them); until then the bar
shows counts and rate only. Drawing is rate-limited, so calling `update` per blob is cheap.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def human_time(sec: float) -> str:
    sec = int(max(0, sec))
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """`Progress(enabled=...)`; `note(text)` for a phase without counts; `set_total(items, nbytes)`
    starts the clock; `update(items, nbytes)`; `close()`."""

    interval = 0.1

    def __init__(self, *, label: str = "blobs", enabled: bool | None = None, stream: TextIO | None = None,
                 width: int = 24) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.enabled = enabled
        self.label = label
        self.label_phase = "reading" if label == "blobs" else ""
        self.width = width
        self.total_items: int | None = None
        self.total_bytes: int | None = None
        self.items = 0
        self.nbytes = 0
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False
        self._phase = ""
        self._ticker: threading.Thread | None = None
        self._lock = threading.Lock()

    def set_total(self, items: int | None, nbytes: int | None) -> None:
        self.total_items, self.total_bytes = items, nbytes
        self._start = time.monotonic()

    def note(self, text: str) -> None:
        """A phase that has no counts (listing objects, mapping findings to commits): its text, then
        the seconds it has taken so far, redrawn twice a second until the next phase or update."""
        if not self.enabled:
            return
        with self._lock:
            self._phase = text
            self._phase_start = time.monotonic()
            self._write(text)
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while True:
            time.sleep(0.5)
            with self._lock:
                if not self._phase:
                    self._ticker = None
                    return
                took = time.monotonic() - self._phase_start
                if took >= 1:
                    self._write(f"{self._phase} {took:.0f}s")

    def _write(self, text: str) -> None:
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def update(self, items: int, nbytes: int) -> None:
        self.items, self.nbytes = items, nbytes
        if not self.enabled:
            return
        self._phase = ""
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = max(now - self._start, 1e-6)
        rate = self.nbytes / elapsed
        parts = [self.label_phase] if self.label_phase else []
        frac: float | None = None
        if self.total_bytes:
            frac = min(1.0, self.nbytes / self.total_bytes)
        elif self.total_items:
            frac = min(1.0, self.items / self.total_items)
        if frac is not None:
            filled = int(frac * self.width)
            parts.append("[" + "#" * filled + "." * (self.width - filled) + f"] {frac * 100:3.0f}%")
        items = f"{self.items:,}" + (f"/{self.total_items:,}" if self.total_items else "")
        parts.append(f"{items} {self.label}")
        size = human_bytes(self.nbytes) + (f"/{human_bytes(self.total_bytes)}" if self.total_bytes else "")
        parts.append(size)
        parts.append(f"{human_bytes(rate)}/s")
        if frac is not None and 0 < frac < 1 and rate > 0 and self.total_bytes and elapsed >= 1:
            parts.append("ETA " + human_time((self.total_bytes - self.nbytes) / rate))
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        with self._lock:
            self._write(self.line(now))

    def close(self) -> None:
        with self._lock:
            self._phase = ""
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
