"""Command line of the build tooling: ``python -m codegen spec|generate|status|spec-diff|update-spec``.

Every failure prints one line, ``error: <what went wrong and what to do>``, and
exits 2, so make stops with a readable message.
"""

from __future__ import annotations

import argparse
import sys

from .errors import CodegenError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen")
    commands = parser.add_subparsers(dest="command", required=True)
    spec_cmd = commands.add_parser("spec", help="vendor the pinned spec into openapi/")
    spec_cmd.add_argument("--source", default=None, help="a path or URL (default: SPEC / FINTORO_OPENAPI_SPEC)")
    spec_cmd.add_argument(
        "--history", action="store_true", help="vendor the older spec pinned in openapi/pin.history.json instead"
    )
    spec_cmd.add_argument(
        "--refuse-unpinned",
        action="store_true",
        help="fail instead of replacing a deliberate unpinned generation (make's automatic regeneration)",
    )
    commands.add_parser("generate", help="regenerate fintoro_api's generated modules from openapi/")
    commands.add_parser("status", help="say whether the generated package comes from the pinned spec")
    diff_cmd = commands.add_parser("spec-diff", help="print the API change report between two specs")
    diff_cmd.add_argument("old", help="path or URL of the older spec")
    diff_cmd.add_argument("new", help="path or URL of the newer spec")
    diff_cmd.add_argument(
        "--json", nargs="?", const="-", default=None, help="print JSON instead (or write it to the given file)"
    )
    update_cmd = commands.add_parser("update-spec", help="pin a new spec: report, changelog, pin, vendor")
    update_cmd.add_argument("--source", default=None, help="path or URL of the new spec (default: SPEC)")
    update_cmd.add_argument("--url", default=None, help="for a file: the URL that publishes the same bytes")
    args = parser.parse_args(argv)
    from .spec import allow_unpinned_from_env, source_from_env

    allow_unpinned = allow_unpinned_from_env()

    try:
        if args.command == "spec":
            from .spec import HISTORY_PIN_FILE, load_pin, vendor

            if args.history:
                print(vendor(args.source, pin=load_pin(HISTORY_PIN_FILE)))
            else:
                source = args.source or source_from_env()
                if args.refuse_unpinned and not source and not allow_unpinned:
                    _refuse_replacing_unpinned()
                print(vendor(source, allow_unpinned=allow_unpinned))
        elif args.command == "generate":
            from .generate import generate
            from .spec import load_vendored

            spec, digest = load_vendored(allow_unpinned=allow_unpinned)
            print(generate(spec, digest))
        elif args.command == "status":
            from .spec import unpinned_generation

            unpinned = unpinned_generation()
            if unpinned:
                print(
                    f"WARNING: fintoro_api is generated from an UNPINNED spec ({unpinned[:12]}), kept on purpose; "
                    "`make generate` (without ALLOW_UNPINNED_SPEC) returns to the pin",
                    file=sys.stderr,
                )
        elif args.command == "spec-diff":
            from .evolution import spec_diff

            print(spec_diff(args.old, args.new, json_path=args.json), end="")
        elif args.command == "update-spec":
            from .evolution import update_spec

            source = args.source or source_from_env()
            if not source:
                raise CodegenError("update-spec needs the new spec: make update-spec SPEC=<path or URL> [URL=<url>]")
            print(update_spec(source, url=args.url), end="")
    except CodegenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the previous generation (if any) is left in place", file=sys.stderr)
        return 130
    return 0


def _refuse_replacing_unpinned() -> None:
    from .spec import unpinned_generation

    unpinned = unpinned_generation()
    if unpinned:
        raise CodegenError(
            f"fintoro_api is generated from an UNPINNED spec ({unpinned[:12]}) and a generation input changed; "
            "regenerate it with `make generate ALLOW_UNPINNED_SPEC=1`, or return to the pin with `make generate`"
        )


if __name__ == "__main__":
    sys.exit(main())
