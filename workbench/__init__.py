"""The application room: queueing runs and studies, the worker that executes them,
judging their outputs, reports and the command line (`python -m workbench`).

It sits on top of the two computing and storing rooms, which never import it or each
other: `engine` (arrays and a frozen config in, events out) and `store` (all SQL). The
dashboard calls it for everything it does besides reading the store.
"""
