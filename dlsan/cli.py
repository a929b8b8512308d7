"""The ``dlsan`` command: ``check``, ``rules``, ``explain``, ``clean``, ``server``.

Exit codes: 0 no findings, 1 findings (or fixes pending under ``--diff``), 2 usage or config error.
This module must never import torch (a test checks it): it is what pre-commit hooks run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.utils import get_binary_stream, get_text_stream

from dlsan import torch_target
from dlsan.__about__ import __version__
from dlsan.config import ConfigError, find_config, load_config, project_root
from dlsan.lint.api import prepare
from dlsan.lint.cache import ResultCache, cache_dir_for
from dlsan.lint.cache import clean as clean_cache
from dlsan.lint.engine_codes import ENGINE_CODES
from dlsan.lint.files import collect_files
from dlsan.lint.finding import PARSE_ERROR_CODE
from dlsan.lint.notebooks import is_notebook, with_noqa
from dlsan.lint.pyversion import SUPPORTED, parse_version_name, version_name
from dlsan.lint.registry import RuleLoadError, all_rules, builtin_rules_dir
from dlsan.lint.runner import FileResult, LintPlan, lint_data, lint_files, run_key
from dlsan.lint.selection import split_selectors
from dlsan.lint.suppressions import UNUSED_SUPPRESSION_CODE
from dlsan.lint.suppressions import add_noqa as add_noqa_comments
from dlsan.report import HUMAN, NEEDS_RULES, RENDERERS, RenderContext
from dlsan.report import statistics as statistics_report
from dlsan.report import text as text_report
from dlsan.report.diff import fix_diff
from dlsan.report.sources import SourceLines
from dlsan.report.style import use_color
from dlsan.runtime.codes import RUNTIME_CODES

if TYPE_CHECKING:  # rule classes import libcst, which a warm cached run never needs
    from dlsan.lint.rule import Rule

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _fail(message: str) -> None:
    click.echo(f"dlsan: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _display(path: Path) -> str:
    """Paths under the current directory are shown relative to it, others as given."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _torch_version(_context: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not torch_target.is_valid(value):
        raise click.BadParameter(f"{value!r} is not a version such as 2.6")
    return None if value is None else value.strip()



#: wide enough that every option's help is one line (`dlsan check --help`; a test keeps it so)
_HELP_WIDTH = 120


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": _HELP_WIDTH,
                               "terminal_width": _HELP_WIDTH})
@click.version_option(__version__, prog_name="dlsan")
def cli() -> None:
    """dlsan: catch the silent bugs of deep-learning code."""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--stdin-filename", help="With `-` as the path: lint standard input as if it were this file.")
@click.option("--select", help="Comma-separated codes, code prefixes (DLS1), names, or ALL.")
@click.option("--ignore", help="Comma-separated codes, prefixes or names to skip.")
@click.option("--extend-select", help="Add to the selected rules.")
@click.option("--output-format", "--format", "output_format", type=click.Choice([*RENDERERS, "text"]),
              default="full", metavar="NAME", help="full (default; text), concise, json, json-lines, sarif, github, gitlab, junit, pylint.")
@click.option("--output-file", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to this file instead of standard output.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour text output (auto: on a terminal, unless NO_COLOR).")
@click.option("--quiet", "-q", is_flag=True, help="Print the findings only: no summary, no fix messages.")
@click.option("--show-fixes", is_flag=True, help="With --fix, list what was fixed in each file.")
@click.option("--fix", is_flag=True, help="Apply safe fixes in place.")
@click.option("--unsafe-fixes", is_flag=True, help="With --fix or --diff, also apply unsafe fixes.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff; write nothing.")
@click.option("--add-noqa", is_flag=True,
              help="Add `# noqa: CODE` to every line with a finding (keeps other comments); exit 0.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Worker processes (default: all cores).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Cache directory (default: $DLSAN_CACHE_DIR, else .dlsan_cache/ in the project).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--statistics", is_flag=True,
              help="Print a count per rule ([*] safe fix, [-] unsafe only) instead of each finding.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Use this pyproject.toml instead of the nearest one.")
@click.option("--force-exclude", is_flag=True,
              help="Apply exclude patterns to paths given explicitly too (for pre-commit).")
@click.option("--target-torch-version", callback=_torch_version, metavar="X.Y",
              help="PyTorch version the code runs on (default: the project's torch pin, else 2.6).")
@click.option("--target-version", type=click.Choice([version_name(v) for v in SUPPORTED]), metavar="PYXY",
              help=f"Python of the code, {version_name(SUPPORTED[0])}..{version_name(SUPPORTED[-1])} "
                   "(default: requires-python, else newest).")
def check(
    paths: Sequence[Path], stdin_filename: str | None, select: str | None, ignore: str | None,
    extend_select: str | None, output_format: str, output_file: Path | None, color: str, quiet: bool,
    show_fixes: bool, fix: bool, unsafe_fixes: bool, diff: bool, add_noqa: bool, jobs: int | None, no_cache: bool,
    cache_dir: Path | None, exit_zero: bool, statistics: bool, config_path: Path | None, force_exclude: bool,
    target_version: str | None, target_torch_version: str | None,
) -> None:
    """Lint PATHS (files or directories; default: the current directory)."""
    path_list = list(paths) or [Path(".")]  # a missing path is a DLS000 finding, the rest is linted
    from_stdin = path_list == [Path("-")]
    if stdin_filename is not None and not from_stdin:
        _fail("--stdin-filename needs `-` as the only path")
    output_format = "full" if output_format == "text" else output_format
    # standard input follows the configuration of the path it stands for
    config_start = [Path(stdin_filename or ".")] if from_stdin else path_list
    try:
        if no_cache or fix or diff:
            cache_dir = None
        else:
            cache_dir = cache_dir_for(project_root(config_start[0], config_path), cache_dir)
        run = prepare(config_start, config_path=config_path, select=_selectors("select", select),
                      ignore=_selectors("ignore", ignore) or [],
                      extend_select=_selectors("extend-select", extend_select) or [],
                      fix=fix or diff, unsafe_fixes=unsafe_fixes, cache_dir=cache_dir,
                      target_version=parse_version_name(target_version) if target_version else None,
                      target_torch_version=target_torch_version)
    except ConfigError as error:
        _fail(str(error))
    cache = None if cache_dir is None else ResultCache(cache_dir, run_key(run.plan))
    sources = SourceLines()
    if from_stdin:
        if add_noqa:
            _fail("--add-noqa needs files to write to, not standard input")
        results = [_lint_stdin(run.plan, stdin_filename or "-", sources, cache, fix=fix and not diff)]
        checked = 1
    else:
        files = collect_files(path_list, run.config.root, run.config.exclude, force_exclude=force_exclude)
        results = lint_files(run.plan, [_display(f) for f in files], jobs, cache)
        checked = len(files)
    if add_noqa:
        if fix or diff:
            _fail("--add-noqa cannot be combined with --fix or --diff")
        _add_noqa(results)
        sys.exit(EXIT_CLEAN)
    # fixed standard input was printed already; files are written, or shown as a diff
    printed = from_stdin and fix and not diff
    pending = not printed and _handle_fixes(results, write=fix and not diff, quiet=quiet, show_fixes=show_fixes)
    findings = [finding for result in results for finding in result.findings]
    # only SARIF describes the rules (their docs): other formats never import a rule class
    rules = all_rules(run.config.rule_dirs) if output_format in NEEDS_RULES else ()
    # with the fixed text of standard input on stdout, the report goes to stderr
    to_stderr = printed and output_file is None
    stream = get_text_stream("stderr" if to_stderr else "stdout")  # type: ignore[operator]
    context = RenderContext(rules, sources, use_color(color, stream) if output_file is None else color == "always")
    if statistics:
        render = statistics_report.render_json if output_format == "json" else statistics_report.render_text
        _emit(render(findings), output_file, to_stderr)
    elif not diff or output_format not in HUMAN:
        _emit(RENDERERS[output_format](findings, context), output_file, to_stderr)
    if diff and not quiet:
        changed = sum(result.applied for result in results if result.fixed is not None)
        click.echo(f"{changed} fix{'es' if changed != 1 else ''} would be applied; "
                   f"{len(findings)} finding{'s' if len(findings) != 1 else ''} would remain.", err=True)
    elif output_format in HUMAN and not quiet:
        click.echo(text_report.summary(findings, checked), err=True)
    failed = bool(findings) or (diff and pending)
    sys.exit(EXIT_CLEAN if exit_zero or not failed else EXIT_FINDINGS)


def _emit(text: str, output_file: Path | None, to_stderr: bool) -> None:
    if output_file is None:  # colour, if any, was decided by use_color: click must not strip it
        click.echo(text, nl=False, err=to_stderr, color=True)
        return
    try:
        output_file.write_text(text, encoding="utf-8")
    except OSError as error:
        _fail(f"cannot write {str(output_file)!r}: {error.strerror or error}")


def _lint_stdin(plan: LintPlan, path: str, sources: SourceLines, cache: ResultCache | None, *,
                fix: bool) -> FileResult:
    """Lint standard input as ``path``; with ``fix``, print the fixed text (or the text unchanged)."""
    data = get_binary_stream("stdin").read()  # type: ignore[operator]
    text = data.decode("utf-8-sig", errors="replace")
    sources.texts[path] = text
    result = lint_data(plan, path, data, cache)
    if fix:
        if result.problem:
            click.echo(f"dlsan: {path}: {result.problem}", err=True)
        if result.fixed is not None:
            click.echo(result.fixed, nl=False)
        else:  # the input exactly as it came
            get_binary_stream("stdout").write(data)  # type: ignore[operator]
    return result


def _add_noqa(results: Sequence[FileResult]) -> None:
    """Write ``# noqa`` comments for every finding (DLS000 and DLS001 excepted), in place."""
    total = 0
    for result in results:
        if not any(f.code not in (PARSE_ERROR_CODE, UNUSED_SUPPRESSION_CODE) for f in result.findings):
            continue
        try:
            data = Path(result.path).read_bytes()
            bom = "\ufeff" if data.startswith(b"\xef\xbb\xbf") else ""
            source = data.decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            click.echo(f"dlsan: {result.path}: cannot add noqa: {error}", err=True)
            continue
        if is_notebook(result.path):  # the comments go into the cells, not the JSON
            new_source, added, cell_lines = with_noqa(source, result.findings, add_noqa_comments)
            skipped = [f"cell {cell}:{line}" for cell, line in cell_lines]
        else:
            new_source, added, lines = add_noqa_comments(source, result.findings)
            skipped = [str(line) for line in lines]
        for line in skipped:
            click.echo(f"dlsan: {result.path}:{line}: no noqa added: the line ends inside a string or "
                       "continues with a backslash; suppress it by hand", err=True)
        if added:
            try:
                with open(result.path, "w", encoding="utf-8", newline="") as handle:
                    handle.write(bom + new_source)
            except OSError as error:
                click.echo(f"dlsan: {result.path}: cannot write: {error.strerror or error}", err=True)
                continue
            total += added
    click.echo(f"Added {total} noqa directive{'s' if total != 1 else ''}.", err=True)


def _selectors(option: str, value: str | None) -> list[str] | None:
    """The comma-separated selectors of ``--option``; an option given with none is a usage error
    (``--select ''`` would otherwise run nothing and pass)."""
    selectors = split_selectors(value)
    if selectors is not None and not selectors:
        _fail(f"--{option} names no rule: give codes, code prefixes (DLS1), names or ALL")
    return selectors


def _handle_fixes(results: Sequence[FileResult], *, write: bool, quiet: bool = False,
                  show_fixes: bool = False) -> bool:
    """Write (or print as a diff) each file's fixed text; returns whether any change is pending."""
    pending = False
    for result in results:
        if result.problem:
            click.echo(f"dlsan: {result.path}: {result.problem}", err=True)
        if result.fixed is None or result.original is None:
            continue
        if not write:
            pending = True
            click.echo(fix_diff(result.path, result.original, result.fixed), nl=False)
            continue
        try:
            with open(result.path, "w", encoding="utf-8", newline="") as handle:
                handle.write(result.fixed)
        except OSError as error:
            click.echo(f"dlsan: {result.path}: not fixed, cannot write: {error.strerror or error}", err=True)
            result.findings = result.unfixed
            pending = True
        else:
            if show_fixes:
                click.echo(text_report.fixed_summary(result), err=True)
            elif not quiet:
                click.echo(f"Fixed {result.applied} finding{'s' if result.applied != 1 else ''} in {result.path}.",
                           err=True)
    return pending


def _known_rules(config_path: Path | None) -> tuple[type[Rule], ...]:
    """The built-in rules and those of the project's ``rule-dirs`` (config found from the current
    directory, or ``--config``)."""
    try:
        config = load_config(config_path if config_path is not None else find_config(Path.cwd()))
        return all_rules(config.existing_rule_dirs())
    except (ConfigError, RuleLoadError) as error:
        _fail(str(error))
        raise  # unreachable: _fail exits


def _fix_safety(rule: type[Rule]) -> str | None:
    return rule.fix_applicability if rule.fixable() else None


_CONFIG_OPTION = click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                              help="Use this pyproject.toml instead of the nearest one.")


@cli.command("rules")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a table; json: an array of {code, name, summary, fix, default, origin}.")
@_CONFIG_OPTION
def list_rules(output_format: str, config_path: Path | None) -> None:
    """List the rules (project rules included) and the runtime codes (DLS8xx): code, name, fix safety, on by default."""
    rules = _known_rules(config_path)
    builtin = builtin_rules_dir().resolve()
    rows = [{"code": code.code, "name": code.name, "summary": code.summary, "fix": None, "default": True,
             "origin": "engine"} for code in ENGINE_CODES]
    rows += [{"code": rule.code, "name": rule.name, "summary": rule.summary(), "fix": _fix_safety(rule),
              "default": rule.default_enabled,
              "origin": "builtin" if Path(sys.modules[rule.__module__].__file__ or "").resolve().parent == builtin
              else "project"} for rule in rules]
    rows += [{"code": code.code, "name": code.name, "summary": code.summary(), "fix": None,
              "default": code.default_enabled, "origin": "runtime"} for code in RUNTIME_CODES]
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'code':<8}{'name':<38}{'fix':<8}{'default':<9}summary")
    for row in rows:
        click.echo(f"{row['code']:<8}{row['name']:<38}{row['fix'] or '':<8}"
                   f"{'on' if row['default'] else 'off':<9}{row['summary']}")


@cli.command()
@click.argument("rule")
@_CONFIG_OPTION
def explain(rule: str, config_path: Path | None) -> None:
    """Print a rule's documentation (by code or name; project rules, DLS000 and runtime codes too)."""
    for code in ENGINE_CODES:
        if rule.upper() == code.code or rule.lower() == code.name:
            click.echo(f"{code.code} {code.name}\n\n{code.summary}\n\n{code.docs()}")
            return
    for candidate in (*_known_rules(config_path), *RUNTIME_CODES):
        if rule.upper() == candidate.code or rule.lower() == candidate.name:
            click.echo(f"{candidate.code} {candidate.name}\n\n{candidate.message}\n\n{candidate.docs()}")
            return
    _fail(f"no rule {rule!r}; `dlsan rules` lists them")


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--format", "output_format", type=click.Choice([*RENDERERS, "text"]), default="full", show_default=True,
              help="How to print the findings (text = full).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write the findings here.")
@click.option("--checks", help="Comma-separated runtime checks (default: every check on by default).")
@click.option("--on-error", type=click.Choice(["raise", "record"]), default="raise", show_default=True,
              help="Stop at the first NaN/Inf or shape error, or record everything and run on.")
@click.argument("script", type=click.Path(path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run(script: Path, args: Sequence[str], output_format: str, output: Path | None, checks: str | None,
        on_error: str) -> None:
    """Run a training SCRIPT with every nn.Module it calls instrumented; print the runtime findings."""
    from dlsan.runtime.run import run_script  # imports torch: only here

    sys.exit(run_script(script, args, output_format="full" if output_format == "text" else output_format, output=output,
                        checks=split_selectors(checks), on_error=on_error))


@cli.command()
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
              help="The cache directory to remove (default: as `dlsan check` finds it from here).")
@_CONFIG_OPTION
def clean(cache_dir: Path | None, config_path: Path | None) -> None:
    """Remove the result cache (only files dlsan wrote there)."""
    try:
        directory = cache_dir_for(project_root(Path.cwd(), config_path), cache_dir)
        removed = clean_cache(directory)
    except (ConfigError, ValueError, OSError) as error:
        _fail(str(error))
    click.echo(f"Removed {directory} ({removed} files)." if removed else f"No cache at {directory}.", err=True)


@cli.command()
def server() -> None:
    """Run the language server on stdin/stdout (needs the extra: pip install 'dlsan[lsp]')."""
    from dlsan.server import LSP_MISSING, lsp_available

    if not lsp_available():
        _fail(LSP_MISSING)
    from dlsan.server.server import serve

    serve()


def main() -> None:
    cli()
