"""`dstream provider`: the provider author kit.

dstream provider new NAME --role input|output [--lifecycle] [--dir DIR]
dstream provider test PATH|NAME|REF [--role R] [--config JSON] [--bad-config JSON]
                      [--env NAME=VALUE]
"""

from __future__ import annotations

import argparse

from dstream.cli.flags import non_empty_path, number, timeout_seconds
from dstream.cli.globalflags import add_json_argument
from dstream.cli.view import View
from dstream.errors import ExitCode, visible
from dstream.kit.harness import MIN_FRAMES
from dstream.protocol.frames import ROLES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    new = sub.add_parser(
        "new",
        help="scaffold a provider project (Python, on the SDK) with tests and a publish script",
    )
    new.add_argument("name", metavar="NAME", help="e.g. http-poller (letters, digits, -)")
    new.add_argument("--role", required=True, choices=ROLES)
    new.add_argument(
        "--lifecycle", action="store_true", help="add init/plan/status/destroy methods"
    )
    new.add_argument(
        "--dir", type=non_empty_path, default=".", help="parent directory (default: .)"
    )
    new.add_argument("--force", action="store_true", help="write into an existing directory")
    _json_flag(new)

    test = sub.add_parser(
        "test",
        help="run the conformance suite against a provider in any language",
        description="Runs the provider as dstream would, once per check, and prints a "
        "pass/fail table with the reason for each failure. Exits 1 if a check fails.",
    )
    test.add_argument("provider", metavar="PATH|NAME|REF")
    test.add_argument("--role", choices=ROLES, help="default: found out by a run")
    test.add_argument(
        "--config",
        dest="provider_config",
        metavar="JSON",
        default="{}",
        help="the provider's config object (or @file.json); default {}",
    )
    test.add_argument(
        "--bad-config",
        metavar="JSON",
        help="a config it must refuse (default: its config plus an unknown key)",
    )
    test.add_argument(
        "--timeout", type=timeout_seconds, default=10.0, help="seconds to wait for an answer (10)"
    )
    test.add_argument(
        "--grace", type=timeout_seconds, default=10.0, help="seconds to wait for an exit (10)"
    )
    test.add_argument(
        "--frames",
        type=number(int, at_least=MIN_FRAMES),
        default=50,
        help="frames read from an input / sent to an output (50)",
    )
    test.add_argument(
        "--check", action="append", metavar="NAME", help="run only this check (repeatable)"
    )
    test.add_argument(
        "--env",
        action="append",
        metavar="NAME=VALUE",
        help="a variable the provider gets, as its block's env map (repeatable); it gets "
        "nothing else of this environment but what dstream run gives",
    )
    _json_flag(test)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    add_json_argument(parser, keep_earlier=True)  # also after the action, as before it


def execute(args: argparse.Namespace, view: View) -> int:
    view.json = bool(getattr(args, "json", False))
    if args.action == "new":
        return _new(args, view)
    return _test(args, view)


def _new(args: argparse.Namespace, view: View) -> int:
    import shlex

    from dstream.kit.scaffold import scaffold

    project = scaffold(
        args.name, role=args.role, lifecycle=args.lifecycle, parent=args.dir, force=args.force
    )
    if view.json:
        view.document({"ok": True, **project.to_dict()})
        return ExitCode.OK
    view.line(f"created {project.root} ({args.role} provider '{project.name}')")
    for path in project.files:
        view.line(f"  {path}")
    view.line("")
    view.line("next:")
    view.line(f"  cd {shlex.quote(str(project.root))}")
    view.line("  python -m pytest                    # its own tests + the conformance suite")
    view.line(f"  dstream provider test ./bin/{project.command}{project.test_config_flag}")
    view.line("  ./publish.sh REGISTRY/REPO:VERSION  # build and push as an OCI artifact")
    return ExitCode.OK


def _test(args: argparse.Namespace, view: View) -> int:
    from dstream.kit.conformance import (
        infer_role,
        parse_env_option,
        parse_json_option,
        refuse_unknown_checks,
        resolve_argv,
        run_suite,
    )
    from dstream.kit.harness import Target

    refuse_unknown_checks(args.check)  # before the provider is started to find its role
    config = parse_json_option(args.provider_config, "--config") or {}
    bad = parse_json_option(args.bad_config, "--bad-config")
    env = parse_env_option(args.env)
    from dstream.config.redact import remember_block

    remember_block({"config": config, "bad_config": bad}, env)  # before the provider echoes
    argv = resolve_argv(args.provider)
    role = args.role or infer_role(argv, config, args.timeout, env)
    target = Target(
        argv=argv,
        role=role,
        label=args.provider,
        config=config,
        bad_config=bad,
        env=env,
        timeout=args.timeout,
        grace=args.grace,
        frames=args.frames,
    )
    view.info(f"testing {role} provider {args.provider} ({argv[0]})")
    report = run_suite(target, only=args.check)
    if view.json:
        view.document(report.to_dict())
    else:
        _table(report, view)
    return ExitCode.OK if report.ok else ExitCode.FAILURE


def _table(report: object, view: View) -> None:
    from dstream.kit.conformance import Report

    assert isinstance(report, Report)
    marks = {"pass": "PASS", "fail": "FAIL", "skip": "skip"}
    width = max((len(r.name) for r in report.results), default=5)
    view.line(f"{'check':<{width}}  result  reason")
    for r in report.results:
        # a reason quotes what the provider said: one row, whatever it wrote
        view.line(f"{r.name:<{width}}  {marks[r.status]:<6}  {visible(r.reason)}")
    verdict = "conforms" if report.ok else "does NOT conform"
    view.line(
        f"\n{report.provider} ({report.role}) {verdict}: {report.count('pass')} passed, "
        f"{report.count('fail')} failed, {report.count('skip')} skipped"
    )
