"""A local web app to hide N secret photographs in a cover and reveal them again, over the stego library.

    python app.py [--model FOLDER | --opt options/test/<file>.yml] [--host 127.0.0.1] [--port 7860] [--share]

Open the printed address in a browser. The app handles one request at a time, refuses images above
``--max-pixels`` before decoding them, and writes only into a temporary folder that it removes when it stops
(Ctrl-C or SIGTERM). Nothing is sent anywhere unless ``--share`` asks Gradio for a public link.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from stego.cli import add_model_arguments, model_source

DEFAULT_MAX_PIXELS = 50_000_000
BYTES_PER_PIXEL_LIMIT = 8        # upload size limit: max_pixels x this (a 16-bit RGBA PNG barely compresses)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add_model_arguments(parser)
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on (default 127.0.0.1: this machine)')
    parser.add_argument('--port', type=int, default=7860, help='port to listen on (default 7860)')
    parser.add_argument('--share', action='store_true',
                        help='also open a public gradio.live link (contacts Gradio\'s servers; off by default)')
    parser.add_argument('--max-pixels', type=int, default=DEFAULT_MAX_PIXELS,
                        help=f'refuse uploaded images above this many pixels (default {DEFAULT_MAX_PIXELS})')
    args = parser.parse_args(argv)
    if args.max_pixels < 1:
        parser.error(f'--max-pixels must be positive, got {args.max_pixels}')
    return args


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the server like Ctrl-C, so that the temporary folder is removed."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Load the model, then serve the app until interrupted; the work folder is removed on the way out."""
    args = parse_args(argv)
    os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    with tempfile.TemporaryDirectory(prefix='invmihnet-app-') as work_root:
        tempfile.tempdir = work_root                    # what any library puts in "the" temporary folder
        os.environ['GRADIO_TEMP_DIR'] = str(Path(work_root) / 'uploads')
        # Gradio touches matplotlib on every request: no GUI backend, no font cache written outside work_root.
        os.environ['MPLBACKEND'] = 'agg'
        os.environ['MPLCONFIGDIR'] = str(Path(work_root) / 'matplotlib')
        # Imported here, after GRADIO_TEMP_DIR is set: Gradio reads it at import time.
        from stego import StegoError, load_model
        from webapp.ui import build_app

        source = model_source(args)
        try:
            model = load_model(source, args.iir, args.iih, device='cpu' if args.cpu else None)
        except StegoError as err:
            raise SystemExit(f'error: {err}') from None
        app = build_app(model, source, work_root, args.max_pixels)
        app.queue(default_concurrency_limit=1)
        try:
            app.launch(server_name=args.host, server_port=args.port, share=args.share,
                       max_file_size=args.max_pixels * BYTES_PER_PIXEL_LIMIT)
        except OSError as err:
            raise SystemExit(f'error: {err}') from None


if __name__ == '__main__':
    sys.exit(main())
