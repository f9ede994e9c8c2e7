"""The README a newcomer reads in two minutes, and docs whose links resolve
and whose commands exist as written (subcommands and their flags)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from engine.cli import main

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
NESTED = {"bvh"}
"""Commands with subcommands of their own (motiongpt bvh from-joints ...)."""
FENCE = re.compile(r"```(?:bash|sh)?\n(.*?)```", re.S)


def test_the_readme_is_short_and_opens_with_the_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    first_block = FENCE.search(text).group(1).strip().splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == ['./setup.sh demo "a person waves"',
                                                                     "./setup.sh test"]
    for heading in ("What the shipped model can make", "The tools", "Licence: non-commercial"):
        assert heading in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name}: {target} does not exist"


def _documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    for page in PAGES:
        for block in FENCE.findall(page.read_text(encoding="utf-8")):
            joined = re.sub(r"\\\n\s*", " ", block)
            for line in joined.splitlines():
                line = line.split(" #")[0].strip()
                m = re.search(r"(?:^|\s|/)motiongpt\s+([a-z][a-z-]*)((?:\s+[a-z][a-z-]*)?)(.*)", line)
                if m and "torchrun" not in line:
                    sub = m.group(1) + (m.group(2) if m.group(1) in NESTED else "")
                    rest = m.group(3) if m.group(1) in NESTED else m.group(2) + m.group(3)
                    found.append((page.name, [sub] + re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest)))
    return found


def test_documented_commands_exist_with_their_flags(capsys):
    commands = _documented_commands()
    assert len(commands) > 20
    helps: dict[str, str] = {}
    for page, (sub, *flags) in commands:
        if sub not in helps:
            with pytest.raises(SystemExit) as info:
                main(sub.split() + ["--help"])
            assert info.value.code == 0, f"{page}: 'motiongpt {sub}' is not a command"
            helps[sub] = capsys.readouterr().out
        for flag in flags:
            assert flag in helps[sub], f"{page}: 'motiongpt {sub}' has no {flag}"
