"""store.db helpers that are not about locks (those are in test_concurrency)."""

from store.db import change_token, connect


def test_change_token_moves_on_every_commit_and_not_on_reads(tmp_path):
    path = tmp_path / "t.duckdb"
    assert change_token(path) == (None, None)
    with connect(path) as con:
        con.execute("CREATE TABLE t (i INTEGER)")
    before = change_token(path)
    with connect(path) as con:
        con.execute("SELECT count(*) FROM t").fetchall()
    assert change_token(path) == before
    with connect(path) as con:
        con.execute("INSERT INTO t VALUES (1)")
    assert change_token(path) != before
