"""The README's editor set-ups are well-formed and start the command that exists."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _block(after: str, language: str) -> str:
    section = README[README.index(after):]
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no {language} block after {after!r}"
    return match.group(1)


def test_vscode_settings():
    settings = json.loads(_block("VS Code, with", "json"))
    assert (settings["glspc.server.command"], settings["glspc.server.commandArguments"]) == ("dlsan", ["server"])


def test_helix_languages_toml():
    config = tomllib.loads(_block("Helix, in", "toml"))
    assert config["language-server"]["dlsan"] == {"command": "dlsan", "args": ["server"]}
    assert "dlsan" in config["language"][0]["language-servers"]


def test_neovim_starts_the_server():
    assert 'cmd = { "dlsan", "server" }' in _block("Neovim (0.10+)", "lua")
