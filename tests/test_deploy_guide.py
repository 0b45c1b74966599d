"""The deployment guide's environment file, read as systemd's EnvironmentFile= reads it
and as a shell's `set -a; . file` does: both must see the same settings. A comment
after a value is part of the value to systemd (PROXY_HOPS "1   # nginx…" stopped every
unit), and a shell ran the second word of an unquoted FORCE_NAME as a command (an
outside check of the install)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"


def environment_block() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("### The environment file") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def as_systemd_reads_it(block: str) -> dict[str, str]:
    """systemd.exec(5): lines starting # or ; are comments; KEY=VALUE, the value whole
    to the end of the line, its surrounding double quotes removed."""
    settings = {}
    for line in block.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        settings[key.strip()] = value
    return settings


def as_a_shell_reads_it(block: str, tmp_path: Path) -> dict[str, str]:
    env_file = tmp_path / "env"
    env_file.write_text(block, encoding="utf-8")
    keys = list(as_systemd_reads_it(block))
    script = "set -a; . ./env; set +a; " + "; ".join(f'printf "%s\\0" "${k}"' for k in keys)
    done = subprocess.run(  # noqa: S603 (our own script)
        ["/bin/bash", "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return dict(zip(keys, done.stdout.split("\0")[: len(keys)], strict=True))


def test_systemd_and_a_shell_read_the_guides_environment_file_alike(tmp_path):
    block = environment_block()
    systemd = as_systemd_reads_it(block)
    assert systemd == as_a_shell_reads_it(block, tmp_path)
    assert systemd["FORCE_NAME"] == "Avon and Somerset"
    assert systemd["PROXY_HOPS"] == "1" and systemd["LOG_FORMAT"] == "json"
    assert not [key for key, value in systemd.items() if "#" in value]
