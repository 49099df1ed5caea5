"""The ``xviz`` command: ``xviz demo`` and ``xviz explain IMAGE``.

Both write one standalone HTML report and print its path. Bad arguments give a one-line
error on stderr and exit code 2.
"""
import argparse
import os
import sys
import warnings
from pathlib import Path

MODELS = ("efficientnet_lite0", "digits")


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _methods():
    from .methods import BEST_METHOD, METHODS

    return METHODS, BEST_METHOD


def _version():
    from . import __version__

    return __version__


def build_parser():
    methods, best = _methods()
    parser = _Parser(prog="xviz", description="Explain image classifiers; writes standalone HTML reports.")
    parser.add_argument("--version", action="version", version=f"xviz {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="explain a bundled photo with the bundled ImageNet model (offline)")
    demo.add_argument("--image", default="chelsea",
                      help="an image file, or a bundled photo such as 'coffee' (default: chelsea)")
    demo.add_argument("--out", default="demo.html", help="report path (default: demo.html)")
    explain = sub.add_parser("explain", help="explain IMAGE (a file, or a bundled sample name)")
    explain.add_argument("image", help="an image file, or a bundled sample such as 'coffee' or 'digit-3'")
    explain.add_argument("--model", default="efficientnet_lite0", choices=MODELS, help="bundled model")
    explain.add_argument("--target", help="class label or index to explain (default: the top-1 class)")
    explain.add_argument("--method", default=best, choices=sorted(methods), help=f"explanation method (default: {best})")
    explain.add_argument("--out", default="report.html", help="report path (default: report.html)")
    explain.add_argument("--top", type=int, default=5, help="how many classes to list (default: 5)")
    return parser


def _load_model(name):
    from . import zoo

    return zoo.efficientnet_lite0() if name == "efficientnet_lite0" else zoo.digits_cnn()


def _load_input(text):
    from . import zoo
    from .core.images import load_image

    if not Path(text).exists():
        if text in zoo.sample_names():
            return zoo.image(text)
        raise UsageError(f"no image file at '{text}' and no bundled sample of that name "
                         f"(samples: {', '.join(zoo.sample_names())})")
    return load_image(text)


def _parse_target(text):
    if text is None:
        return None
    return int(text) if text.lstrip("-").isdigit() else text


def run(args):
    from .reports import report

    methods, best = _methods()
    if args.command == "demo":
        args.model, args.target, args.method, args.top = "efficientnet_lite0", None, best, 5
    if args.top < 1:
        raise UsageError(f"--top must be at least 1, got {args.top}")
    out = Path(args.out)
    # Checked before the minutes of computing, not after.
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: folder '{out.parent}' does not exist")
    if out.is_dir() or not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"cannot write {out}: " + ("it is a folder" if out.is_dir() else "permission denied"))
    image = _load_input(args.image)
    clf = _load_model(args.model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = methods[args.method](clf, image, target=_parse_target(args.target))
    for w in caught:  # one line each, not Python's warning with its source line
        print(f"xviz: note: {w.message}", file=sys.stderr)
    try:
        return report(clf, image, [result], out, top=args.top).resolve()
    except OSError as err:
        raise UsageError(f"cannot write {out}: {err.strerror or err}") from err


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        path = run(args)
    except (UsageError, ValueError) as err:
        print(f"xviz: error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
