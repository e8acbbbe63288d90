"""Reference solutions (参考答案), one file per exercise, mirroring ``labs/exercises/exNN_*.py``.

Kept apart from the stubs so that an instructor can hand out ``labs/exercises``
without this folder. ``python -m labs check <exercise> --solution`` checks them.
"""
