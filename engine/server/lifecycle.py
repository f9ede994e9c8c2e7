"""Watching the parent process and the idle clock, on Linux, macOS and Windows."""
from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Callable

log = logging.getLogger("motiongpt.server")


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and has not exited (a zombie counts
    as exited). Never signals the process."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _win_pid_alive(pid)
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
            # "pid (comm) S ...": the state follows the last ')'
            return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] not in (b"Z", b"X")
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            pass  # /proc unreadable: fall back to kill(pid, 0)
    try:
        os.kill(pid, 0)  # signal 0 only checks; never use this on Windows (it terminates there)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _win_pid_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # access denied: it exists
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


class Watchdog(threading.Thread):
    """Calls ``stop(reason)`` once, when the parent process is gone or the
    server has been idle for ``idle_timeout`` seconds.

    The parent counts as gone when its pid no longer runs or, when it was our
    direct parent at start, when we have been re-parented (POSIX), which also
    catches a parent whose pid was reused.
    """

    def __init__(self, stop: Callable[[str], None], parent_pid: int | None = None,
                 idle_timeout: float | None = None, idle_for: Callable[[], float] | None = None,
                 interval: float = 0.5):
        super().__init__(name="motiongpt-watchdog", daemon=True)
        self._stop_cb = stop
        self.parent_pid = parent_pid
        self.idle_timeout = idle_timeout
        self.idle_for = idle_for
        self.interval = interval
        self._direct_parent = parent_pid is not None and hasattr(os, "getppid") and os.getppid() == parent_pid
        self._halt = threading.Event()

    def check(self) -> str | None:
        if self.parent_pid is not None:
            if self._direct_parent and sys.platform != "win32" and os.getppid() != self.parent_pid:
                return f"parent process {self.parent_pid} is gone (re-parented to {os.getppid()})"
            if not pid_alive(self.parent_pid):
                return f"parent process {self.parent_pid} is gone"
        if self.idle_timeout is not None and self.idle_for is not None:
            idle = self.idle_for()
            if idle >= self.idle_timeout:
                return f"idle for {idle:.0f} s (--idle-timeout {self.idle_timeout:g})"
        return None

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            reason = self.check()
            if reason:
                self._stop_cb(reason)
                return

    def halt(self) -> None:
        self._halt.set()


def wait_for(event: threading.Event, poll: float = 0.5) -> None:
    """Wait in short slices so that signal handlers run promptly."""
    while not event.wait(poll):
        pass
