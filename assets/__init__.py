"""The shipped models, the demo audio and the model card, installed as the package data of
``nnasr_assets`` (this directory; see pyproject.toml). Find them with :mod:`app.assets`."""
