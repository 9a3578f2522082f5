"""The page registry's link parameters and the `runs=` parser."""

from dashboard import nav


def test_params_leave_out_absent_values_and_join_runs_in_order():
    assert nav.params() == {}
    assert nav.params(run_id=3) == {"run": "3"}
    assert nav.params(runs=[5, 2, 5, 9]) == {"runs": "5,2,9"}
    assert nav.params(from_run=7, study_id=1) == {"study": "1", "from_run": "7"}


def test_parse_ids_skips_what_is_not_a_positive_integer():
    assert nav.parse_ids(None) == [] and nav.parse_ids("") == []
    assert nav.parse_ids("3, 1,3,x,-2,0,12") == [3, 1, 12]


def test_every_page_has_a_unique_url_path():
    paths = [spec.url_path for spec in nav.PAGES.values()]
    assert len(paths) == len(set(paths))
