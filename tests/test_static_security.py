"""Static checks (issue 7, part 6): TLS verification is never switched off except by the user's option.

ruff's ``S`` (bandit) rules run in ``make test`` (``make lint``); this test adds what bandit cannot
know: every place in the library that *can* turn TLS verification off must carry the marker comment
``# tls-opt-out: <user option>`` naming the documented option it serves (``ignoreSslCerts``), so a
new ``verify=False`` cannot slip in unnoticed. The emulator (``common_plugin/testing``) is not
library code and is excluded.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common_plugin", "sdk_core_plugin", "oss_plugin", "log_plugin", "maxcompute_plugin")
EXCLUDED = (ROOT / "common_plugin" / "testing",)
# ignoreSslCerts: the DKMS config option; verify: ProxyAcsClient's own AcsClient argument, passed through.
USER_OPTIONS = ("ignoreSslCerts", "verify")
# Where the opt-out may be plumbed: the config entry's value reaches the DKMS client through these.
OPT_OUT_FILES = (
    "common_plugin/sources/dkms.py",
    "common_plugin/sources/factory.py",
    "common_plugin/sources/http_transport.py",
    "sdk_core_plugin/proxy_acs_client.py",
)
# Known pass-throughs of a caller's own SDK argument: none outside the marked lines.
REVIEWED: set[tuple[str, str]] = set()

# Assignments or keyword arguments that disable certificate or host-name checks. A value that is a
# variable (``ignore_ssl=ignore_ssl_certs``) can switch verification off too, so it is matched.
TLS_SWITCH = re.compile(
    r"""
    \bverify\s*=\s*(?!True\b|ca_file_path\b)[^,)\s]+    # verify=False / verify=<variable>
    | \bignore_ssl\w*\s*=\s*(?!False\b)[^,)\s=]+       # ignore_ssl=True / ignore_ssl=<variable>
    | \bCERT_NONE\b
    | \bcheck_hostname\s*=\s*(?!True\b)\S+
    | \b_create_unverified_context\b
    | \bdisable_warnings\b
    """,
    re.VERBOSE,
)
MARKER = re.compile(r"#\s*tls-opt-out:\s*(\w+)")


def _library_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not any(path.is_relative_to(excluded) for excluded in EXCLUDED):
                files.append(path)
    return files


def find_unmarked_tls_switches(text: str) -> list[tuple[int, str]]:
    """Lines that can disable TLS verification without a ``# tls-opt-out: <option>`` marker."""
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0]
        if not TLS_SWITCH.search(code):
            continue
        marker = MARKER.search(line)
        if marker is None or marker.group(1) not in USER_OPTIONS:
            hits.append((number, line.strip()))
    return hits


def test_library_never_disables_tls_except_through_the_user_option() -> None:
    files = _library_files()
    assert len(files) > 20  # the scan really covers the packages
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line}"
        for path in files
        for number, line in find_unmarked_tls_switches(path.read_text(encoding="utf-8"))
        if (path.relative_to(ROOT).as_posix(), line) not in REVIEWED
    ]
    assert hits == [], "TLS verification switch without '# tls-opt-out: ignoreSslCerts':\n" + "\n".join(hits)


def test_every_opt_out_is_reachable_only_from_the_documented_option() -> None:
    marked = [
        (path, line)
        for path in _library_files()
        for line in path.read_text(encoding="utf-8").splitlines()
        if MARKER.search(line)
    ]
    assert marked, "the DKMS ignoreSslCerts opt-out should be marked"
    for path, line in marked:
        assert path.relative_to(ROOT).as_posix() in OPT_OUT_FILES, f"an unexpected TLS opt-out: {line}"


@pytest.mark.parametrize(
    ("line", "flagged"),
    [
        ("    session.verify = False", True),
        ("client = AcsClient(verify=False)", True),
        ("RuntimeOptions(ignore_ssl=True)", True),
        ("Config(ignore_ssl=flag)", True),
        ("ctx.check_hostname = False", True),
        ("ctx.verify_mode = ssl.CERT_NONE", True),
        ("ctx = ssl._create_unverified_context()", True),
        ("urllib3.disable_warnings()", True),
        ("Config(ignore_ssl=flag)  # tls-opt-out: ignoreSslCerts", False),
        ("Config(ignore_ssl=flag)  # tls-opt-out: because", True),  # not a user option
        ("AcsClient(verify=True)", False),
        ("AcsClient(verify=ca_file_path if ca_file_path else True)", False),
        ("ignore_ssl=False", False),
        ("# verify=False in a comment", False),
    ],
)
def test_the_scanner(line: str, flagged: bool) -> None:
    assert bool(find_unmarked_tls_switches(line)) is flagged


def test_make_test_runs_ruff_with_the_bandit_rules() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    select = re.search(r"^select\s*=\s*\[(.*?)\]", pyproject, re.MULTILINE)
    assert select is not None and '"S"' in select.group(1)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test:.*\blint\b", makefile, re.MULTILINE)
    assert "ruff check ." in makefile
    # S rules are waived only outside the library (tests, benchmarks, samples, the emulator)
    for pattern, rules in re.findall(r'^"([^"]+)"\s*=\s*\[(.*?)\]', pyproject, re.MULTILINE):
        if re.search(r'"S\d*"', rules):
            assert pattern.startswith(("tests", "benchmarks", "samples", "common_plugin/testing")), pattern
