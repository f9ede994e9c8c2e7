"""Who may use the engine: one token, or a team's file of hashed tokens.

An engine shared by a team (one per GPU, behind a TLS proxy) gives each
person their own token, so each sees and cancels only their own jobs and one
token can be revoked by deleting its line. The file holds SHA-256 hashes, not
tokens, so reading it (or a backup of it) does not let anyone in:

    # motiongpt tokens: NAME sha256:HEX, one per line
    alice sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
    bob   sha256:...

``motiongpt add-token NAME --tokens-file FILE`` makes a random token, prints
it once and appends its line. A plain hash (no salt, no slow KDF) is enough
because tokens are 256-bit random strings, not passwords a person picked.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..errors import MotionFileError, MotionGPTError

DEFAULT_OWNER = "default"
"""The owner of the jobs of the single token (--token / $MOTIONGPT_TOKEN / the random one)."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
HASH_PREFIX = "sha256:"
FILE_HEADER = "# motiongpt tokens: NAME sha256:HEX, one per line (made by motiongpt add-token)\n"


MAX_TOKENS_FILE_BYTES = 1024 * 1024


def check_not_writable_by_others(path: Path) -> None:
    """MotionFileError when users other than the owner may write the tokens
    file, or replace it through its folder (group or world write bit on
    either; a sticky folder such as /tmp lets no one replace another's file,
    so it passes)."""
    import stat
    for item, what in ((path, "file"), (path.parent, "folder")):
        try:
            mode = item.stat().st_mode
        except FileNotFoundError:
            return                      # the missing file is reported by the reader
        except OSError as exc:
            raise MotionFileError(item, f"cannot be checked ({exc.strerror or exc})") from None
        if what == "folder" and mode & stat.S_ISVTX:
            continue
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise MotionFileError(path, f"other users can write this tokens {what} ({item}, mode "
                                        f"{stat.S_IMODE(mode):o}) and could add a token of their own; fix it "
                                        f"with: chmod go-w {item}")


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token() -> str:
    """A fresh random token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class TokenTable:
    """Names and the SHA-256 of their tokens; :meth:`owner` finds who sent a token."""
    entries: tuple[tuple[str, bytes], ...]

    @classmethod
    def single(cls, token: str, name: str = DEFAULT_OWNER) -> "TokenTable":
        return cls(((name, token_hash(token)),))

    @classmethod
    def from_file(cls, path: str | Path) -> "TokenTable":
        """Read a tokens file; every bad line is named with its number. A
        file (or folder) that other users may write is refused: whoever can
        write it can let themselves in."""
        path = Path(path)
        check_not_writable_by_others(path)
        try:
            if path.stat().st_size > MAX_TOKENS_FILE_BYTES:
                raise MotionFileError(path, f"is larger than {MAX_TOKENS_FILE_BYTES // 1024} kB; a tokens file holds "
                                            "one short line per person")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MotionFileError(path, "tokens file not found; make it with: motiongpt add-token NAME "
                                        f"--tokens-file {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MotionFileError(path, f"cannot be read as a tokens file ({exc})") from None
        entries: list[tuple[str, bytes]] = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].startswith(HASH_PREFIX):
                raise MotionFileError(path, f"line {number} is not 'NAME sha256:HEX' (got {line[:80]!r})")
            name, digest_hex = parts[0], parts[1][len(HASH_PREFIX):]
            if not NAME_PATTERN.match(name):
                raise MotionFileError(path, f"line {number}: the name {name[:80]!r} must be 1-64 letters, digits, "
                                            "'_', '.', '@' or '-'")
            try:
                digest = bytes.fromhex(digest_hex)
            except ValueError:
                digest = b""
            if len(digest) != 32:
                raise MotionFileError(path, f"line {number}: the hash of {name!r} is not 64 hex digits")
            if any(n == name for n, _ in entries):
                raise MotionFileError(path, f"line {number}: the name {name!r} is listed twice; names must be unique")
            if any(hmac.compare_digest(d, digest) for _, d in entries):
                raise MotionFileError(path, f"line {number}: {name!r} has the same token as another name")
            entries.append((name, digest))
        if not entries:
            raise MotionFileError(path, "holds no tokens; add one with: motiongpt add-token NAME "
                                        f"--tokens-file {path}")
        return cls(tuple(entries))

    def merged(self, other: "TokenTable") -> "TokenTable":
        names = {n for n, _ in self.entries}
        clash = next((n for n, _ in other.entries if n in names), None)
        if clash is not None:
            raise MotionGPTError(f"the tokens file has a name {clash!r}, which the single --token uses; rename it")
        return TokenTable(self.entries + other.entries)

    def owner(self, token: str) -> str | None:
        """The name the token belongs to, or None. Every entry is compared
        (in constant time each), so the time taken does not say which matched."""
        given = token_hash(token)
        found = None
        for name, digest in self.entries:
            if hmac.compare_digest(given, digest) and found is None:
                found = name
        return found


def add_token(path: str | Path, name: str) -> str:
    """Make a token for ``name``, append its hash line to the tokens file
    (created owner-readable only) and return the token, which is shown once
    and stored nowhere."""
    path = Path(path)
    if not NAME_PATTERN.match(name):
        raise MotionGPTError(f"the name {name[:80]!r} must be 1-64 letters, digits, '_', '.', '@' or '-'")
    table = TokenTable.from_file(path) if path.exists() and path.stat().st_size else None
    if table is not None and any(n == name for n, _ in table.entries):
        raise MotionGPTError(f"{path} already has a token for {name!r}; delete its line first to replace it")
    token = new_token()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        if table is None:
            fh.write(FILE_HEADER)
        fh.write(f"{name} {HASH_PREFIX}{token_hash(token).hex()}\n")
    return token
