"""The engine: validation, the pure scheduler, expressions, the journal and the local driver.

Submodules are imported where they are used (``flowforge.engine.plan``, ``.expr``, ``.local``):
the pure parts stay importable without the store and the driver.
"""
