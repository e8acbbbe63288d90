"""The Streamlit dashboard's logic: everything the pages show, testable without Streamlit.

- :mod:`.i18n`     the seed's analogy captions and board labels, from the one catalogue :mod:`labs.i18n`
- :mod:`.board`    the live board: an incremental reader of the global event stream
- :mod:`.queries`  the broker reads and actions the pages make (connection, DLQ, workers)
- :mod:`.submit`   the submit form: parameter fields from the catalogue, batches with failures
- :mod:`.charts`   altair pictures: state diagram, Gantt of attempts, planned-vs-actual retries
- :mod:`.channels` one job watched over WebSocket, SSE and polling side by side
- :mod:`.ui`       the Streamlit glue the pages share (language, captions, the broker guard)
- ``pages/``       the Streamlit pages themselves (``app.py`` at the top level routes to them)
"""
