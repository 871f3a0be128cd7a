"""Arguments and loading shared by every command that reads dstream.hcl."""

from __future__ import annotations

import argparse
import os

from dstream.config.model import Project


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        help="a .hcl file or a directory of them (default: $DSTREAM_CONFIG or ./dstream.hcl)",
    )
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a variable (repeatable)",
    )
    parser.add_argument(
        "--var-file",
        action="append",
        default=[],
        metavar="FILE",
        help="read variables from a .hcl/.tfvars or .json file (repeatable)",
    )


def load_project_from_args(args: argparse.Namespace) -> Project:
    from dstream.config.loader import load_project

    return load_project(
        config=args.config,
        variables=list(args.var),
        var_files=list(args.var_file),
        environ=dict(os.environ),
    )
