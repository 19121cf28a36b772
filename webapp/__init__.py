"""The local web app over the stego library: ``actions`` does what the buttons ask, ``ui`` lays out the page."""
