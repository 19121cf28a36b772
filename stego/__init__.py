"""Hide and reveal as a library: the sender's and the receiver's logic behind ``hide.py`` and ``reveal.py``.

    model = load_model('experiments/pretrained_models/InvMIHNet_4images_demo')   # or a test option file
    result = hide_images(model, 'cover.jpg', ['a.jpg', 'b.png', 'c.jpg', 'd.png'], verify=True)
    save_stego('stego.png', result.stego)          # a clean PNG: IHDR, IDAT, IEND only
    result.key.save('stego.key.json')              # shared with the receiver over another channel
    revealed = reveal_image(model, 'stego.png', 'stego.key.json')
    write_secrets(revealed, 'revealed/')
"""
from stego.errors import (CoverSizeError, ImageTooLargeError, InputImageError, KeyFileError, KeyMismatchError,
                          ModelLoadError, OutputError, SecretCountError, StegoError)
from stego.key import StegoKey, default_key_path
from stego.model import load_model
from stego.png import save_stego
from stego.receiver import RevealResult, reveal_image, write_secrets
from stego.sender import HideResult, hide_images

__all__ = ['load_model', 'hide_images', 'reveal_image', 'save_stego', 'write_secrets', 'HideResult',
           'RevealResult', 'StegoKey', 'StegoError', 'default_key_path', 'CoverSizeError', 'ImageTooLargeError',
           'InputImageError', 'KeyFileError', 'KeyMismatchError', 'ModelLoadError', 'OutputError',
           'SecretCountError']
