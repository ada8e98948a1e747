"""Command line: parse arguments, resolve settings, run the pipeline, print, pick the exit code.

This is the only module that prints errors or decides an exit code: 0 nothing at or above
--fail-on, 1 failed findings at or above it, 2 unusable input or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from itscm_check import __version__
from itscm_check.engine import RuleError
from itscm_check.errors import InputErrors
from itscm_check.formatters import FORMATS, PASSING_CHECKS, render
from itscm_check.policy.model import SEVERITIES
from itscm_check.report import NEVER, exit_code

if TYPE_CHECKING:
    from pathlib import Path

    from itscm_check.cache import ParseCache
    from itscm_check.policy.model import Rule
    from itscm_check.settings import Settings

# 130 and 141 are what a shell reports for a command stopped by SIGINT or SIGPIPE.
EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="itscm-check", description="Check an IT service continuity inventory "
                                     "against continuity policies.")
    parser.add_argument("--version", action="version", version=f"itscm-check {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def inputs(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--inventory", action="append", metavar="PATH",
                         help="inventory file or folder (repeatable; default: inventory)")
        sub.add_argument("--policies", action="append", metavar="PATH",
                         help="policy file or folder added to the built-in pack (repeatable; default: ./policies)")
        sub.add_argument("--waivers", action="append", metavar="FILE",
                         help="file of waivers: (repeatable), besides those in the inventory")
        sub.add_argument("--config", metavar="FILE", help="config file (default: .itscm-check.yaml if present)")
        sub.add_argument("--cache-dir", metavar="DIR",
                         help="where parsed inventory files are kept between runs (default: .itscm-cache)")
        sub.add_argument("--no-cache", action="store_true", help="parse every file, read and write no cache")

    check = commands.add_parser("check", help="evaluate the inventory and report findings")
    inputs(check)
    check.add_argument("--as-of", metavar="YYYY-MM-DD", help="evaluation date (default: today, UTC)")
    check.add_argument("--format", action="append", metavar="FORMAT",
                       help=f"{'|'.join(FORMATS)}, or FORMAT=FILE (repeatable; default: table)")
    check.add_argument("--output", action="append", metavar="FILE", help="file for the --format at the same position (- for standard output)")
    check.add_argument("--fail-on", metavar="LEVEL", help=f"{'|'.join(SEVERITIES)}|{NEVER} (default: high)")
    check.add_argument("--baseline", metavar="REF",
                       help="git ref to compare with: only new findings count for the exit code")
    check.add_argument("--baseline-report", metavar="FILE", help="earlier JSON report to compare with instead")
    check.add_argument("--warn-expiring", metavar="DAYS", help="list waivers expiring within DAYS (default: 30)")
    check.add_argument("--max-waiver-days", metavar="DAYS", help="longest waiver lifetime before ITSCM-902 "
                                                                 "(default: 365)")
    check.set_defaults(handler=_check)

    validate = commands.add_parser("validate", help="report input errors only")
    inputs(validate)
    validate.set_defaults(handler=_validate, as_of=None, fail_on=None)

    rules = commands.add_parser("rules", help="list the rules with id, severity, title and controls")
    rules.add_argument("--policies", action="append", metavar="PATH", help="policy file or folder to add")
    rules.add_argument("--format", choices=["table", "markdown"], default="table",
                       help="markdown gives the table the README embeds")
    rules.set_defaults(handler=_rules, config=None)

    test = commands.add_parser("test", help="run rule cases: small inventories and the findings a rule must give")
    test.add_argument("cases", nargs="+", metavar="PATH", help="case file or folder of case files")
    test.add_argument("--policies", action="append", metavar="PATH",
                      help="policy file or folder with the rules under test (repeatable; default: ./policies)")
    test.add_argument("--as-of", metavar="YYYY-MM-DD", help="date of the cases that give none (default: today, UTC)")
    test.set_defaults(handler=_test, config=None)

    explain = commands.add_parser("explain", help="show what a rule checks and how to fix it")
    explain.add_argument("rule", metavar="RULE", help="a rule id, e.g. ITSCM-030")
    explain.add_argument("--policies", action="append", metavar="PATH", help="policy file or folder to add")
    explain.set_defaults(handler=_explain, config=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from itscm_check import fast_yaml  # after parse_args: `--help` stays fast

    try:
        fast_yaml.parser_choice()
    except ValueError as exc:
        print(f"itscm-check: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if args.handler in (_check, _validate, _test) and (reason := fast_yaml.unavailable_reason()) is not None:
        print(f"itscm-check: note: {reason}", file=sys.stderr)
    # A run is short and makes almost no cyclic garbage, while the collector's repeated scans of
    # a large loaded inventory make load time grow faster than the inventory.
    gc.disable()
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # here, not at exit: a closed pipe must raise where it is handled below
        return code
    except InputErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"itscm-check: {len(exc.errors)} input error(s); nothing was checked", file=sys.stderr)
        return EXIT_INPUT
    except RuleError as exc:
        print(f"itscm-check: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader stopped early (`itscm-check rules | head`)
        # Python's documented recipe: point stdout at devnull, or flushing it at exit fails again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    finally:
        # Whatever survived the run goes to the permanent generation first: enabled over millions
        # of young objects, the collector's next pass would scan them all for nothing.
        gc.freeze()
        gc.enable()


def _settings(args: argparse.Namespace) -> Settings:
    from itscm_check.settings import resolve  # imported on use: `--help` and `rules` stay fast

    return resolve(args, dt.datetime.now(dt.timezone.utc))


def _check(args: argparse.Namespace) -> int:
    from itscm_check.pipeline import run_check

    settings = _settings(args)
    parse_cache = _parse_cache(settings)
    try:
        report = run_check(settings.inventory, settings.policies, settings.as_of, waiver_files=settings.waivers,
                           fail_on=settings.fail_on, generated_at=settings.generated_at,
                           max_waiver_days=settings.max_waiver_days, warn_expiring_days=settings.warn_expiring_days,
                           baseline_ref=settings.baseline_ref, baseline_report=settings.baseline_report,
                           parse_cache=parse_cache, config_file=settings.config_file,
                           passing=any(output.format in PASSING_CHECKS for output in settings.outputs))
        for output in settings.outputs:
            text = render(output.format, report, color=settings.color and output.path is None)
            if output.path is None:
                sys.stdout.write(text)
            else:
                try:
                    output.path.parent.mkdir(parents=True, exist_ok=True)
                    output.path.write_text(text, encoding="utf-8")
                except OSError as exc:
                    print(f"itscm-check: cannot write the report to {output.path}: {exc.strerror or exc} "
                          f"(give --output a file in a folder you can write to)", file=sys.stderr)
                    return EXIT_INPUT
    finally:
        _cache_done(parse_cache)  # last: parse workers may still be writing entries until now
    return EXIT_FINDINGS if exit_code(report) else EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from itscm_check.pipeline import load_inputs

    settings = _settings(args)
    parse_cache = _parse_cache(settings)
    try:
        inventory, rules = load_inputs(settings.inventory, settings.policies, settings.waivers, parse_cache)[:2]
    finally:
        _cache_done(parse_cache)
    print(f"valid: {len(inventory.services)} services, {len(inventory.teams)} teams, {len(inventory.sites)} sites, "
          f"{len(inventory.vendors)} vendors, {len(inventory.waivers)} waivers; {len(rules)} rules")
    return EXIT_OK


def _parse_cache(settings: Settings) -> ParseCache | None:
    from itscm_check.cache import ParseCache

    # Its parse workers' entries are written while the run goes on, and waited for by _cache_done.
    return ParseCache(settings.cache_dir, finishing=[]) if settings.cache_dir is not None else None


def _cache_done(parse_cache: ParseCache | None) -> None:
    if parse_cache is None:
        return
    parse_cache.finish()
    if parse_cache.problem is not None:
        print(f"itscm-check: warning: {parse_cache.problem}", file=sys.stderr)
    else:
        parse_cache.prune()


def _rule_list(args: argparse.Namespace) -> list[Rule]:
    from itscm_check.policy.loading import load_rules

    return load_rules(_extra_policies(args))


def _extra_policies(args: argparse.Namespace) -> list[Path]:
    """--policies, or ./policies when it exists (commands without a config file)."""
    from pathlib import Path

    from itscm_check.settings import default_policies

    return [Path(p) for p in args.policies or default_policies()]


def _rules(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from itscm_check.waivers import META_RULES

    rows = [[r.id, r.severity_text, r.title + ("" if r.enabled else " (disabled)"), ", ".join(r.controls)]
            for r in _rule_list(args)]
    rows += [[m.id, m.severity, m.title, ", ".join(m.controls)] for m in META_RULES]
    headers = ["id", "severity", "title", "controls"]
    if args.format == "markdown":
        print(tabulate(rows, headers=headers, tablefmt="github"))
    else:
        print(tabulate(rows, headers=headers, maxcolwidths=[None, 30, 40, 60]))
    return EXIT_OK


def _test(args: argparse.Namespace) -> int:
    from pathlib import Path

    from itscm_check.rule_tests import run_cases, summary
    from itscm_check.settings import as_of_date

    as_of = as_of_date(args.as_of) if args.as_of else dt.datetime.now(dt.timezone.utc).date()
    results = run_cases([Path(p) for p in args.cases], _extra_policies(args), as_of)
    print(summary(results))
    return EXIT_OK if all(r.passed for r in results) else EXIT_FINDINGS


def _explain(args: argparse.Namespace) -> int:
    text = explanation(args.rule, _rule_list(args))
    if text is None:
        print(f"itscm-check: unknown rule '{args.rule}'; `itscm-check rules` lists them", file=sys.stderr)
        return EXIT_INPUT
    print(text)
    return EXIT_OK


def explanation(rule_id: str, rules: list[Rule]) -> str | None:
    """What `explain RULE` prints (docs/rules.md holds it for every rule), or None for an unknown id."""
    from itscm_check.waivers import META_RULES

    wanted = rule_id.upper()
    for rule in rules:
        if rule.id.upper() == wanted:
            return _explanation(rule)
    for meta in META_RULES:
        if meta.id == wanted:
            return (f"{meta.id}  {meta.title}\n\nseverity: {meta.severity}\ncontrols: {', '.join(meta.controls)}\n\n"
                    f"{meta.description}\n\nHow to fix: {meta.remediation}")
    return None


def _explanation(rule: Rule) -> str:
    from itscm_check.policy.loading import logic_text

    tiers = f"tiers {', '.join(str(t) for t in sorted(rule.tiers))}" if rule.tiers else "all tiers"
    lines = [f"{rule.id}  {rule.title}", "", f"severity: {rule.severity_text}",
             f"applies to: {', '.join(rule.subjects)} ({tiers}; production services only)",
             f"controls: {', '.join(rule.controls)}", f"defined in: {rule.source} (pack {rule.pack})"]
    if rule.overridden_at:
        lines.append(f"overridden at: {', '.join(map(str, rule.overridden_at))}")
    if not rule.enabled:
        lines.append("disabled by an override")
    lines += ["", rule.description, "", f"How to fix: {rule.remediation}"]
    if rule.param_text:
        lines += ["", "Parameters:"] + [f"  {name}: {text}" for name, text in rule.param_text.items()]
    lines += ["", "Logic:"] + [f"  {line}" for line in logic_text(rule).rstrip().splitlines()]
    return "\n".join(lines)
