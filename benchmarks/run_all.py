"""Run every benchmark (``make bench``), print their tables, write ``benchmarks/RESULTS.md`` and
copy its summary table into the README's performance section.

Each script prints markdown tables, plus summary rows marked with ``_util.SUMMARY_PREFIX``; the
summary rows of all scripts make the table at the top of RESULTS.md, and the same table replaces
the block between the ``bench-summary`` markers in README.md, so every figure there comes from the
latest run. Each script runs in its own interpreter (cold-start figures need a fresh process, and one script's
threads or caches must not colour the next). A script that fails is reported and the others still
run; the exit status is then 1.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _util  # noqa: E402

SCRIPTS = (
    "bench_read.py",
    "bench_overhead.py",
    "bench_rotation.py",
    "bench_cold_start.py",
    "bench_fleet.py",
    "bench_install_size.py",
)
PACKAGES = (
    "alibabacloud-managed-credentials-providers",
    "aliyun-python-sdk-core",
    "oss2",
    "cryptography",
    "APScheduler",
    "botocore",
    "aws-secretsmanager-caching",
    "alibabacloud-credentials",
)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout  # noqa: S607
    except OSError:
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def machine() -> list[str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    python310 = _util.find_python310()
    return [
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {cpu_model()}, {platform.system()} "
        f"{platform.release()}",
        f"- Load average when the run started (1, 5, 15 min): {load}",
        f"- Python: {_util.python_label()} ({sys.executable})",
        f"- Packages: {versions()}",
        "- Original suite: aliyun-openapi-python-sdk-managed-credentials-provider and "
        "aliyun-sdk-common-managed-credentials-provider 0.1.4 in `.venv-bench-original/` on "
        + (f"{python310}" if python310 else "(no python3.10: skipped)"),
        "- Command: `make bench` (= `.venv/bin/pip install -e '.[bench]' && .venv/bin/python "
        "benchmarks/run_all.py`)",
    ]


README_START = "<!-- bench-summary:start (written by benchmarks/run_all.py) -->"
README_END = "<!-- bench-summary:end -->"


def summary_table(rows: list[list[str]]) -> str:
    lines = ["| benchmark | ours | baseline in the same run | target | status |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def update_readme(header: list[str], summary: str) -> None:
    """Replace the README's summary block with this run's table and where it was measured."""
    readme = _util.ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        _util.note("README.md has no bench-summary markers; left unchanged")
        return
    when = "; ".join(line.removeprefix("- ") for line in header if line.startswith(("- Date", "- Machine")))
    block = "\n".join(
        [
            README_START,
            f"From the latest `make bench` run ({when}); full tables in "
            "[benchmarks/RESULTS.md](benchmarks/RESULTS.md).",
            "",
            summary,
            README_END,
        ]
    )
    readme.write_text(text[:start] + block + text[end + len(README_END) :], encoding="utf-8")
    _util.note("updated the summary table in README.md")


def main() -> int:
    _util.clean_environment()
    began = time.perf_counter()
    header = machine()
    sections: list[str] = []
    summary_rows: list[list[str]] = []
    failed = []
    for script in SCRIPTS:
        _util.note(f"== {script}")
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our own interpreter and scripts
            [sys.executable, str(_util.BENCH_DIR / script)],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
            cwd=_util.ROOT,
        )
        seconds = time.perf_counter() - started
        kept = []
        for line in done.stdout.splitlines():
            if line.startswith(_util.SUMMARY_PREFIX):
                summary_rows.append(line[len(_util.SUMMARY_PREFIX) :].split("\t"))
            else:
                kept.append(line)
        text = "\n".join(kept).strip()
        if done.returncode != 0:
            failed.append(script)
            text += f"\n\n**{script} failed (exit {done.returncode}); see the console for its error.**"
        sections.append(f"{text}\n\n_{script}: {seconds:.0f} s_\n")
        print(sections[-1], flush=True)
    total = time.perf_counter() - began
    header.append(f"- Total wall time of the run: {total / 60:.1f} min")
    summary = summary_table(summary_rows)
    document = "\n".join(
        [
            "# Benchmark results",
            "",
            "Written by `benchmarks/run_all.py`; rerun `make bench` to refresh. "
            "PASS/MISS compare against each row's target; `info` rows have no target.",
            "",
            *header,
            "",
            "## Summary (copied into README.md)",
            "",
            summary,
            "## Details",
            "",
            *sections,
        ]
    )
    (_util.BENCH_DIR / "RESULTS.md").write_text(document, encoding="utf-8")
    update_readme(header, summary)
    print("\n".join(header), flush=True)
    _util.note(f"wrote {_util.BENCH_DIR / 'RESULTS.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
