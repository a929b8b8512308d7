#!/usr/bin/env python3
"""Precision of the issue-13 rules on whole public repositories, against judged verdicts.

The shared corpus (``../shared/corpus/check.py``) holds 16 repositories; this script measures the
rules on more: any snapshot fetched under ``/work/.mirror/OWNER+NAME`` (the search tool's
``fetch``).  Each repository's Python files and notebooks are extracted once to ``--root`` (one
folder per repository, named as in the mirror), dlsan is run on each with the fifteen rules
selected, and every finding is matched with a verdict (same repository, path and code, a line
within 2, and in a notebook the same ``cell``) from the verdict files: the jsonl format of
``../shared/corpus/verdicts.jsonl``, plus ``cell`` for notebooks.  Findings nobody judged are
NEW: read the code and add a verdict.  Parse errors (DLS000) are not counted.

  python benchmarks/realcode_precision.py                       # every mirrored repository
  python benchmarks/realcode_precision.py --show NEW pytorch+ignite kuangliu+pytorch-cifar

Every default rule on the notebook repositories judged in ``notebook_verdicts.jsonl`` (its
``repo`` is written ``owner/name``; either form matches)::

  codes=$(dlsan rules | awk '$1 ~ /^DLS[0-7]/ && / on / {print $1}' | grep -v DLS000 | paste -sd,)
  python benchmarks/realcode_precision.py --select "$codes,DLS405" --verdicts benchmarks/notebook_verdicts.jsonl

It prints, per rule, TP / FP / debatable / NEW and how many repositories the findings came from.
Fetched code is extracted under /tmp, never into the worktree.
"""
from __future__ import annotations

import argparse
import collections
import json
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
MIRROR = pathlib.Path("/work/.mirror")
#: the rules of issue 13 (DLS405 is opt-in: it is selected here to measure it)
RULES = ("DLS102", "DLS303", "DLS304", "DLS305", "DLS404", "DLS405", "DLS406", "DLS507", "DLS508",
         "DLS509", "DLS510", "DLS511", "DLS512", "DLS604", "DLS605")
VERDICTS = (HERE / "realcode_verdicts_newrules.jsonl",)
_SOURCES = (".py", ".ipynb")


def git_dir(repo: pathlib.Path) -> pathlib.Path | None:
    for candidate in (repo / "repo" / ".git", repo / "repo"):
        if (candidate / "HEAD").is_file():
            return candidate
    return None


def extract(name: str, root: pathlib.Path) -> pathlib.Path | None:
    """The repository's Python files and notebooks at HEAD under ``root/name`` (once).

    Blob by blob (``git cat-file --batch``), not by ``git archive``: a snapshot may list a file
    whose blob it does not hold, and ``git archive`` then stops at that file, so everything after
    it in path order was silently left out (57 of the 76 notebooks of
    udacity/deep-learning-v2-pytorch).  Absent blobs are skipped and counted on stderr; symbolic
    links are left out (Atcold/NYU-DLSP20's ``extra/plot_lib.py`` is one)."""
    target = root / name
    if target.is_dir():
        return target
    git = git_dir(MIRROR / name)
    if git is None:
        return None
    listed = subprocess.run(["git", f"--git-dir={git}", "ls-tree", "-r", "-z", "HEAD"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    entries = [entry.split("\t", 1) for entry in listed if "\t" in entry]
    # mode 120000 is a symbolic link, whose blob is the target's path, not a source file
    paths = [path for meta, path in entries
             if not meta.startswith("120000") and path.endswith(_SOURCES) and "\n" not in path]
    target.mkdir(parents=True)
    batch = subprocess.run(["git", f"--git-dir={git}", "cat-file", "--batch"],
                           input="".join(f"HEAD:{path}\n" for path in paths).encode(), capture_output=True, check=True)
    out, at, absent = batch.stdout, 0, 0
    for path in paths:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        at = end + 1
        if len(header) != 3 or header[1] != b"blob":  # "<name> missing": listed, not held
            absent += 1
            continue
        size = int(header[2])
        file = target / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(out[at : at + size])
        at += size + 1
    if absent:
        print(f"{name}: {absent} of {len(paths)} source files listed but absent from the snapshot", file=sys.stderr)
    return target


def load_verdicts(paths: list[pathlib.Path]) -> dict[tuple[str, str, str], list[dict[str, object]]]:
    judged: dict[tuple[str, str, str], list[dict[str, object]]] = collections.defaultdict(list)
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                verdict = json.loads(line)
                # "owner+name" as the mirror names it, or "owner/name" (notebook_verdicts.jsonl)
                judged[(verdict["repo"].replace("/", "+"), verdict["path"], verdict["code"])].append(verdict)
    return judged


def findings(dlsan: str, folder: pathlib.Path, rules: str) -> list[dict[str, object]]:
    cmd = [*dlsan.split(), "check", "--select", rules, "--format", "json", "--exit-zero", "--no-cache", "."]
    run = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=False)
    if run.returncode not in (0, 1):
        sys.exit(f"dlsan failed on {folder}:\n{run.stderr[-2000:]}")
    found: list[dict[str, object]] = json.loads(run.stdout or "[]")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="*", help="OWNER+NAME folders of the mirror (default: all of them)")
    ap.add_argument("--root", type=pathlib.Path, default=pathlib.Path("/tmp/realcode"))
    ap.add_argument("--dlsan", default="dlsan")
    ap.add_argument("--select", default=",".join(RULES))
    ap.add_argument("--verdicts", action="append", type=pathlib.Path, default=[])
    ap.add_argument("--show", choices=["FP", "TP", "debatable", "NEW", "all"])
    args = ap.parse_args()
    names = args.repos or sorted(p.name for p in MIRROR.iterdir() if git_dir(p) is not None)
    judged = load_verdicts([*VERDICTS, *args.verdicts])
    per: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    repos_of: dict[str, set[str]] = collections.defaultdict(set)
    shown: list[str] = []
    for name in names:
        folder = extract(name, args.root)
        if folder is None:
            print(f"skipped {name}: no snapshot", file=sys.stderr)
            continue
        for finding in findings(args.dlsan, folder, args.select):
            code, line, cell = str(finding["code"]), int(str(finding["line"])), finding.get("cell")
            if code == "DLS000":
                continue
            rel = str(finding["path"]).removeprefix("./")
            near = [v for v in judged.get((name, rel, code), [])
                    if abs(int(str(v["line"])) - line) <= 2 and v.get("cell") == cell]
            verdict, reason = (str(near[0]["verdict"]), str(near[0].get("reason", ""))) if near else ("NEW", "")
            per[code][verdict] += 1
            repos_of[code].add(name)
            if args.show in (verdict, "all"):
                where = f"{rel}:{line}" if cell is None else f"{rel}[cell {cell}]:{line}"
                shown.append(f"{verdict:9} {name}/{where} {code}  {reason or str(finding['message'])[:100]}")
    print(f"{len(names)} repositories")
    print("code      TP    FP   deb   NEW  repos")
    for code in sorted(per):
        c = per[code]
        print(f"{code}  {c['TP']:5} {c['FP']:5} {c['debatable']:5} {c['NEW']:5}  {len(repos_of[code]):5}")
    print("\n".join(shown))
    tp, fp = sum(c["TP"] for c in per.values()), sum(c["FP"] for c in per.values())
    print(f"precision {tp / (tp + fp):.3f} ({tp} TP, {fp} FP)" if tp + fp else "no judged findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
