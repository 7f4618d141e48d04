"""The ``sipwire`` command line."""
