"""`dstream providers`: pull, push, list, inspect and remove OCI providers.

dstream providers pull REF [--refresh] [--platform os/arch]
dstream providers push FILE[:os/arch]... --ref REF [--name N --version V --role R --schema F]
dstream providers list
dstream providers inspect REF
dstream providers rm REF...
dstream providers prune [--all]
"""

from __future__ import annotations

import argparse
import time
from typing import Optional

from dstream.cli.flags import non_empty_path
from dstream.cli.globalflags import add_json_argument
from dstream.cli.view import View
from dstream.errors import ExitCode, UsageError, visible
from dstream.protocol.frames import ROLES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.cli.view import Row
    from dstream.oci.cache import Pruned


def _common(parser: argparse.ArgumentParser, *, registry: bool = True) -> None:
    add_json_argument(parser, keep_earlier=True)  # also after the action, as before it
    parser.add_argument(
        "--cache-dir",
        type=non_empty_path,
        metavar="DIR",
        help="provider cache root (default: $DSTREAM_CACHE_DIR or $XDG_CACHE_HOME/dstream)",
    )
    if registry:
        parser.add_argument(
            "--insecure",
            action="store_true",
            help="plain HTTP for a non-loopback registry (loopback registries always use it)",
        )


def _os_arch(text: str) -> str:
    """--platform's value: selection matches OS and architecture only, so a variant
    (linux/arm64/v8) would be a second name for the same executable."""
    from dstream.oci.manifest import not_os_arch

    problem = not_os_arch(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    pull = sub.add_parser("pull", help="download a provider_ref into the cache")
    pull.add_argument("ref", metavar="REF", help="e.g. ghcr.io/acme/counter:1.0 or ...@sha256:...")
    pull.add_argument("--refresh", action="store_true", help="resolve the tag again")
    pull.add_argument(
        "--platform", type=_os_arch, metavar="OS/ARCH", help="pull for another platform"
    )
    _common(pull)

    push = sub.add_parser(
        "push",
        help="push executables (one per platform) as one provider artifact",
        description="Each FILE is named in the original convention (plugin.linux_amd64, "
        "plugin.windows_amd64.exe) or flagged with its platform: ./counter:linux/amd64.",
    )
    push.add_argument("files", nargs="+", metavar="FILE[:OS/ARCH]")
    push.add_argument("--ref", required=True, metavar="REF", help="where to push (a tag)")
    push.add_argument("--name", help="provider name (default: last repository segment)")
    push.add_argument("--version", help="provider version (default: the tag)")
    push.add_argument("--role", choices=ROLES, help="what the provider is")
    push.add_argument("--schema", metavar="FILE", help="JSON Schema of the provider's config")
    push.add_argument("--description", help="one line about the provider")
    _common(push)

    listing = sub.add_parser("list", help="cached references, digests, platforms, sizes, age")
    _common(listing, registry=False)

    inspect = sub.add_parser("inspect", help="show what the registry holds for REF")
    inspect.add_argument("ref", metavar="REF")
    _common(inspect)

    rm = sub.add_parser("rm", help="forget cached references (their files go with prune)")
    rm.add_argument("refs", nargs="+", metavar="REF")
    _common(rm, registry=False)

    prune = sub.add_parser("prune", help="delete cached files no reference uses")
    prune.add_argument("--all", action="store_true", help="empty the provider cache")
    _common(prune, registry=False)


def _bytes(n: Optional[float]) -> str:
    from dstream.runtime.summary import size

    return size(float(n or 0))


def _age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{int(seconds // span)}{unit} ago"
    return "just now"


def _pull(args: argparse.Namespace, view: View) -> int:
    from dstream.oci import pull

    result = pull(
        args.ref,
        refresh=args.refresh,
        cache_dir=args.cache_dir,
        insecure=args.insecure,
        platform=args.platform,
        show_progress=not view.json,
    )
    if view.json:
        view.document({"ok": True, **result.to_dict()})
        return ExitCode.OK
    how = "cached" if result.from_cache else "pulled"
    view.line(f"{how} {result.reference} ({result.platform})")
    view.line(f"  digest {result.digest}")
    view.line(f"  {result.path} ({_bytes(result.size)})")
    return ExitCode.OK


def _push(args: argparse.Namespace, view: View) -> int:
    from dstream.oci.push import push_provider

    result = push_provider(
        args.files,
        args.ref,
        name=args.name,
        version=args.version,
        role=args.role,
        schema_file=args.schema,
        description=args.description,
        insecure=args.insecure,
    )
    if view.json:
        view.document({"ok": True, **result})
        return ExitCode.OK
    view.line(f"pushed {result['reference']} ({', '.join(result['platforms'])})")
    view.line(f"  digest {result['digest']}")
    view.line(f'  pin it: provider_ref = "{result["pinned"]}"')
    return ExitCode.OK


def _list(args: argparse.Namespace, view: View) -> int:
    from dstream import logs
    from dstream.oci.cache import Cache
    from dstream.records import asdict

    now = time.time()
    listed, damaged = Cache(args.cache_dir).listing()
    for path in damaged:
        logs.log.warning(
            "%s: a damaged cache record, not listed (pull its reference again, or delete "
            "the file)", path,
        )  # fmt: skip
    rows: list[Row] = [
        {**asdict(entry), "age_seconds": round(now - entry.resolved_at, 1)} for entry in listed
    ]
    if view.json:
        view.document({"ok": True, "providers": rows})
        return ExitCode.OK
    if not rows:
        view.line("no providers cached (`dstream providers pull REF`)")
        return ExitCode.OK
    width = max(len(entry.reference) for entry in listed)
    view.line(f"{'REFERENCE':<{width}}  {'DIGEST':<19}  {'PLATFORMS':<24}  {'SIZE':>9}  AGE")
    for entry, row in zip(listed, rows):
        view.line(
            f"{entry.reference:<{width}}  {entry.digest[:19]:<19}  "
            f"{','.join(entry.platforms):<24}  {_bytes(entry.size):>9}  "
            f"{_age(row['age_seconds'])}"
        )
    return ExitCode.OK


def _inspect(args: argparse.Namespace, view: View) -> int:
    from dstream.oci import inspect

    info = inspect(args.ref, insecure=args.insecure)
    if view.json:
        view.document({"ok": True, **info})
        return ExitCode.OK
    # Every text below but the reference is the registry's: shown, never obeyed (a line
    # break or an escape sequence in it cannot print a line that passes for dstream's).
    view.line(f"{info['reference']}")
    view.line(f"  digest        {visible(str(info['digest']))}")
    view.line(f"  media type    {visible(str(info['media_type'] or '-'))}")
    # an index has no artifact type
    view.line(f"  artifact type {visible(str(info.get('artifact_type') or '-'))}")
    for plat in info.get("platforms") or []:
        title = f"  {visible(str(plat['title']))}" if plat.get("title") else ""
        shown = visible(str(plat.get("platform") or "?"))
        view.line(f"  - {shown:<14} {_bytes(plat.get('size'))}{title}")
    meta = info.get("metadata")
    if meta:
        keys = ("name", "version", "role", "description")
        said = ", ".join(f"{k}={visible(str(meta[k]))}" for k in keys if k in meta)
        view.line("  metadata      " + said)
        if "config_schema" in meta:
            view.line("  config schema present (`--json` shows it)")
    return ExitCode.OK


def _rm(args: argparse.Namespace, view: View) -> int:
    from dstream.oci.cache import Cache
    from dstream.oci.reference import parse_reference

    cache = Cache(args.cache_dir)
    removed: list[str] = []
    missing: list[str] = []
    keys = [str(parse_reference(text)) for text in args.refs]  # every word read first
    for key in keys:
        (removed if cache.remove_ref(key) else missing).append(key)
    pruned = cache.prune()
    refused = (
        UsageError(
            f"not in the cache: {', '.join(missing)}", hint="`dstream providers list` shows it"
        )
        if missing
        else None
    )
    if view.json:  # `removed`: the references; the pruned files are counted as `files`
        said = refused.to_dict() if refused is not None else {}
        view.document({"ok": not missing, **said, "removed": removed, "not_cached": missing,
                       "files": pruned.files, "bytes": pruned.bytes})  # fmt: skip
        return ExitCode.USAGE if missing else ExitCode.OK
    if removed:
        _say_pruned(view, removed, pruned)
    if refused is not None:
        raise refused
    return ExitCode.OK


def _prune(args: argparse.Namespace, view: View) -> int:
    from dstream.oci.cache import Cache
    from dstream.records import asdict

    pruned = Cache(args.cache_dir).prune(everything=args.all)
    if view.json:  # the keys of `rm --json`
        view.document({"ok": True, **asdict(pruned)})
    else:
        _say_pruned(view, pruned.removed, pruned)
    return ExitCode.OK


def _say_pruned(view: View, references: list[str], pruned: Pruned) -> None:
    """`rm` and `prune` say alike what went: each reference, then the files and bytes."""
    for key in references:
        view.line(f"removed {key}")
    view.line(
        f"deleted {pruned.files} cached files (blobs, manifests, unpacked layers), "
        f"freed {_bytes(pruned.bytes)}"
    )


ACTIONS = {
    "pull": _pull,
    "push": _push,
    "list": _list,
    "inspect": _inspect,
    "rm": _rm,
    "prune": _prune,
}


def execute(args: argparse.Namespace, view: View) -> int:
    return ACTIONS[args.action](args, view)
