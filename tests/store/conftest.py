"""Every store test runs twice: on SQLite (a real file in tmp_path) and on PostgreSQL (a fresh
schema on the throwaway server of ``tests/servers/postgres.py``). The fixtures (``engine``,
``blank_engine``, ``conn``) are in ``tests/conftest.py``, shared with every area that stores.
"""
