"""The page: a Hide tab and a Reveal tab over :mod:`webapp.actions`; every expected error becomes the one-line
message the command-line tools print, and the app keeps serving.

Import this module only after the app has pointed ``GRADIO_TEMP_DIR`` at its own temporary folder (see
``app.py``): Gradio reads it at import time.
"""
from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from inference.stego_model import StegoModel
from stego.cli import EXPECTED_ERRORS
from webapp import actions

COVER_MODES = [('crop: center-crop the cover to a valid size', 'crop'),
               ('pad: reflect-pad the cover (keeps all of it)', 'pad')]
UPLOAD_HEIGHT = 280              # pixels: the upload widgets and the comparison view


def undecoded_upload(image: gr.Image) -> gr.Image:
    """``image`` (a ``gr.Image(type='filepath')``) made to hand the uploaded file to the app as it is: Gradio's own
    Pillow decode, which fails with a bare "Error" on a damaged or huge upload before the app can say why, is
    skipped, and the library's checks read the file (header first, size limit, formats). Done on the instance:
    a subclass would make Gradio write a ``.pyi`` file beside this module."""
    def preprocess(payload) -> str | None:
        return None if payload is None or payload.path is None else str(payload.path)
    image.preprocess = preprocess
    return image


def page_error(err: BaseException, uploads: Sequence[str | os.PathLike | None], title: str) -> gr.Error:
    """A Gradio error box (stays until closed) with the library's one-line message, upload folders stripped."""
    return gr.Error(html.escape(actions.readable(err, uploads)), duration=None, title=title, print_exception=False)


def build_app(model: StegoModel, opt_path: str | os.PathLike, work_root: str | os.PathLike,
              max_pixels: int) -> gr.Blocks:
    """The two-tab Gradio app for ``model``; results go to folders under ``work_root``."""
    config = model.network_config
    n = config.num_images
    limit = f'{max_pixels / 1e6:g} megapixels'

    def on_cover(cover: str | None, mode: str) -> str:
        try:
            return actions.stego_size_note(config, cover, mode, max_pixels)
        except EXPECTED_ERRORS as err:
            return f'**Cannot use this cover:** {html.escape(actions.readable(err, [cover]))}'

    def on_hide(cover: str | None, secrets: list[tuple[str, str | None]] | None, mode: str,
                progress: gr.Progress = gr.Progress()) -> tuple:
        if not cover:
            raise gr.Error('Upload a cover image first.', title='Cannot hide')
        paths = [path for path, _ in secrets or []]
        progress(0.1, desc=f'hiding {len(paths)} secrets and revealing them back from the 8-bit stego')
        try:
            outcome = actions.hide(model, cover, paths, mode, work_root, max_pixels)
        except EXPECTED_ERRORS as err:
            raise page_error(err, [cover, *paths], 'Cannot hide') from None
        return ([str(outcome.stego_png), str(outcome.key_file)], outcome.report, outcome.comparison)

    def on_reveal(stego: str | None, key: str | None, progress: gr.Progress = gr.Progress()) -> tuple:
        if not stego:
            raise gr.Error('Upload a stego PNG first.', title='Cannot reveal')
        progress(0.1, desc='revealing')
        try:
            outcome = actions.reveal(model, stego, key, work_root, max_pixels)
        except EXPECTED_ERRORS as err:
            raise page_error(err, [stego, key], 'Cannot reveal') from None
        files = [str(p) for p in outcome.secret_pngs]
        return ([(f, Path(f).name) for f in files], [*files, str(outcome.zip_file)], outcome.report)

    with gr.Blocks(title='InvMIHNet: hide photographs in a photograph', analytics_enabled=False) as app:
        gr.Markdown(f'# InvMIHNet: hide {n} photographs in one\n'
                    f'Model: {html.escape(config.describe())} (`{opt_path}`). Everything runs on '
                    f'this machine; images above {limit} are refused.')
        with gr.Tab('Hide', id='hide'):
            gr.Markdown(f'Upload one **cover** and exactly **{n} secret images** (any sizes: each secret is resized '
                        f'to the stego size and comes back at its own size). Keep the **key file**: the receiver '
                        f'needs it, with the stego PNG, to get the secrets back at their sizes and names.')
            with gr.Row():
                cover = undecoded_upload(gr.Image(label='Cover', type='filepath', image_mode=None,
                                                  sources=['upload'], height=UPLOAD_HEIGHT, elem_id='hide-cover'))
                secrets = gr.Gallery(label=f'{n} secret images', type='filepath', interactive=True,
                                     file_types=['image'], columns=min(n, 4), height=UPLOAD_HEIGHT,
                                     elem_id='hide-secrets')
            mode = gr.Radio(COVER_MODES, value='crop', label='Cover size', elem_id='hide-mode')
            size_note = gr.Markdown(actions.stego_size_note(config, None, 'crop', max_pixels), elem_id='hide-size')
            hide_button = gr.Button(f'Hide {n} secrets', variant='primary', elem_id='hide-button')
            comparison = gr.Image(label=f'cover | stego | {actions.DIFFERENCE_GAIN}x difference', format='png',
                                  interactive=False, height=UPLOAD_HEIGHT, elem_id='hide-comparison')
            with gr.Row():
                hide_files = gr.File(label='Stego PNG and key file (download both)', file_count='multiple',
                                     interactive=False, elem_id='hide-downloads')
                hide_report = gr.Markdown(elem_id='hide-report')
        with gr.Tab('Reveal', id='reveal'):
            gr.Markdown(f'Upload a **stego PNG** written by Hide and, if you have it, its **key file**. Without the '
                        f'key the {n} secrets come back at the stego size, unnamed.')
            with gr.Row():
                stego = undecoded_upload(gr.Image(label='Stego PNG', type='filepath', image_mode=None,
                                                  sources=['upload'], height=UPLOAD_HEIGHT, elem_id='reveal-stego'))
                key = gr.File(label='Key file (.key.json, optional)', file_types=['.json'], elem_id='reveal-key')
            reveal_button = gr.Button('Reveal', variant='primary', elem_id='reveal-button')
            revealed = gr.Gallery(label='Revealed secrets', format='png', columns=min(n, 4),
                                  interactive=False, buttons=['download', 'fullscreen'], elem_id='reveal-gallery')
            with gr.Row():
                reveal_files = gr.File(label='Revealed secrets (each, and all in one zip)', file_count='multiple',
                                       interactive=False, elem_id='reveal-downloads')
                reveal_report = gr.Markdown(elem_id='reveal-report')

        for trigger in (cover.change, mode.change):
            trigger(on_cover, [cover, mode], size_note, queue=False, show_progress='hidden')
        hide_button.click(on_hide, [cover, secrets, mode], [hide_files, hide_report, comparison])
        reveal_button.click(on_reveal, [stego, key], [revealed, reveal_files, reveal_report])
    return app
