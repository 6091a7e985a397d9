"""The release of bosun this is (foundations: imports nothing), as `bosun.__version__`.

Code inside bosun reads it from here, not from the `bosun` package, whose `__init__` imports
the whole public API (the app, the store, the agents): the client, the agents and the
deploy tools stay free of those imports."""

__version__ = "0.1.0"
