"""Built-in datasource implementations, one module per backend.

Nothing here is imported by ``import unifydb``; the registry imports a module
the first time a datasource of its type is used.
"""
