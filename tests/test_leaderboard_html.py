"""The leaderboard page (`leaderboards.html`) parsed back: structure, sort headers, directions, definitions.

The page is the one `tools/leaderboard_screenshots.py --demo` photographs: a hand-made run shaped
like the tiny run (seven suites in three groups, base, sft-only, SRC iter 1-3, outcome-DPO).
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from leaderboards import definitions
from leaderboards.html import DIRECTION_BADGE, MISSING, to_html
from leaderboards.plots import all_plots
from leaderboards.results import load_reference
from leaderboards.tables import comparison_frame, leaderboard_frame
from tools.leaderboard_screenshots import demo_run, measure

VOID = {"meta", "img", "br", "wbr", "hr", "input", "link", "source"}
ROOT = Path(__file__).resolve().parents[1]


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.texts: list[str] = []

    def text(self) -> str:
        return "".join(self.texts) + "".join(c.text() for c in self.children)

    def find(self, tag: str, **attrs: str) -> list[Node]:
        """Descendants with ``tag`` whose attributes hold ``attrs`` (``class_`` matches one class)."""
        found = []
        for child in self.children:
            wanted = {k.rstrip("_"): v for k, v in attrs.items()}
            classes = (child.attrs.get("class") or "").split()
            if child.tag == tag and all(
                (v in classes) if k == "class" else child.attrs.get(k) == v for k, v in wanted.items()
            ):
                found.append(child)
            found += child.find(tag, **attrs)
        return found


class Tree(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.node = Node("#root", {}, None)
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.node)
        self.node.children.append(node)
        if tag not in VOID:
            self.node = node

    def handle_endtag(self, tag: str) -> None:
        node = self.node
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.node = node.parent

    def handle_data(self, data: str) -> None:
        self.node.texts.append(data)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Node, object, object]:
    runs = [demo_run()]
    frame = leaderboard_frame(runs, bootstrap=50, seed=0)
    plots = all_plots(runs, frame, tmp_path_factory.mktemp("plots"))
    page = to_html(runs, frame, plots, load_reference(), "test page", comparison_frame(runs, None, 50))
    return page, Tree(page).root, frame, runs[0]


def _header(table: Node) -> list[Node]:
    return table.find("thead")[0].find("tr")[-1].find("th")


def _name(th: Node) -> str:
    return th.find("span", class_="name")[0].texts[0]


def test_viewport_inline_assets_and_no_network(built: tuple) -> None:
    page, root, _, _ = built
    assert any(
        m.attrs.get("name") == "viewport" and "width=device-width" in (m.attrs.get("content") or "")
        for m in root.find("meta")
    )
    for node in root.find("img") + root.find("a") + root.find("script") + root.find("link"):
        for attr in ("src", "href"):
            value = node.attrs.get(attr)
            assert value is None or value.startswith(("data:", "#")), value
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    style = root.find("style")[0].text()
    assert "url(" not in style and "@import" not in style
    images = root.find("img")
    assert len(images) == 3 and all(i.attrs["src"].startswith("data:image/png;base64,") for i in images)
    assert all(i.parent.tag == "figure" and "plot" in i.parent.attrs["class"] for i in images)


def test_every_table_scrolls_in_its_own_container_with_a_sticky_first_column(built: tuple) -> None:
    _, root, _, _ = built
    tables = root.find("table")
    assert len(tables) == 4  # results, trajectory, paired comparisons, published rows
    assert all("scroll" in (t.parent.attrs.get("class") or "") for t in tables)
    style = root.find("style")[0].text()
    assert re.search(r"\.scroll \{[^}]*overflow-x: auto", style)
    assert re.search(r"th:first-child, td:first-child \{[^}]*position: sticky; left: 0", style)


def test_sortable_headers_sit_over_the_cells_they_sort(built: tuple) -> None:
    _, root, frame, results = built
    table = root.find("table")[0]
    header = _header(table)
    assert [int(th.attrs["data-column"]) for th in header] == list(range(len(header)))
    groups = table.find("tr", class_="groups")[0].find("th")
    assert all("data-column" not in th.attrs for th in groups)  # the group row sorts nothing
    assert sum(int(th.attrs.get("colspan", 1)) for th in groups) == len(header)
    part = frame[frame.run == results.run]
    rows = table.find("tbody")[0].find("tr")
    assert [r.find("td")[0].text() for r in rows] == [c.label for c in results.checkpoints]
    for th in header[1:]:
        column = _name(th)
        assert th.attrs["data-metric"] == part[part.column == column]["metric"].iloc[0]
        for row in rows:
            cell = row.find("td")[int(th.attrs["data-column"])]
            value = part[(part.label == row.find("td")[0].text()) & (part.column == column)]["value"]
            if value.isna().all():
                assert cell.attrs["data-v"] == "" and cell.text() == MISSING
            else:
                assert float(cell.attrs["data-v"]) == pytest.approx(value.iloc[0])
    script = root.find("script")[0].text()
    assert "querySelectorAll('th[data-column]')" in script and "aria-sort" in script
    assert "(x === '') - (y === '')" in script  # empty cells last, before the direction applies


def test_bold_follows_each_metric_direction_named_in_its_header(built: tuple) -> None:
    _, root, _, _ = built
    for table in root.find("table")[:2]:
        header = _header(table)
        rows = table.find("tbody")[0].find("tr")
        for th in header[1:]:
            found = definitions.by_metric(th.attrs["data-metric"])
            assert th.find("span", class_="dir")[0].text() == DIRECTION_BADGE[found.better]
            cells = [r.find("td")[int(th.attrs["data-column"])] for r in rows]
            values = {float(c.attrs["data-v"]) for c in cells if c.attrs["data-v"] != ""}
            bold = {float(c.attrs["data-v"]) for c in cells if c.find("b")}
            if found.higher_is_better is None or len(values) < 2:
                assert not bold, _name(th)
            else:
                assert bold == {max(values) if found.higher_is_better else min(values)}, _name(th)
    badges = {_name(th): th.find("span", class_="dir")[0].text() for th in _header(root.find("table")[0])[1:]}
    assert badges["coverage"] == "↑ better" and badges["lucky answers"] == "↓ better"
    assert badges["faithful errors"] == "no direction"


def test_one_missing_marker_and_deltas_named_both_ways(built: tuple) -> None:
    _, root, _, results = built
    cells = [td for table in root.find("table") for td in table.find("td")]
    assert all(td.text().strip() for td in cells)  # no blank cell anywhere
    assert all(td.text() == MISSING for td in cells if td.attrs.get("data-v") == "")
    for row in root.find("table")[0].find("tbody")[0].find("tr"):
        label, *values = row.find("td")
        titles = [td.attrs.get("title") for td in values if td.attrs["data-v"] != ""]
        if label.text() == "base":
            assert not any(titles)
            continue
        for title in titles:
            lines = title.split("\n")
            assert all(re.fullmatch(r"Δ vs .+: ([+-]\d\.\d{3}\*?|–)", line) for line in lines), title
            if label.text() == "sft-only (iter_0)":
                assert lines[0].startswith("Δ vs base (also the checkpoint it was trained from):")
            else:
                assert len(lines) == 2 and lines[0].startswith("Δ vs base:") and "trained from" in lines[1]


def test_every_metric_column_is_defined_on_the_page_from_the_one_source(built: tuple) -> None:
    _, root, _, _ = built
    anchors = {dt.attrs["id"]: dt for dt in root.find("dt")}
    for table in root.find("table")[:2]:
        for th in _header(table)[1:]:
            found = definitions.by_metric(th.attrs["data-metric"])
            assert found is not None and found.anchor in anchors, _name(th)
            assert th.attrs["title"] == found.plain_text()
    for name in ("coverage", "lucky answers", "faithful errors", "tie mass", "R-Scorer agreement (facts)"):
        found = definitions.by_column(name)
        assert found is not None and anchors[found.anchor].text().startswith(name)
    docs = (ROOT / "docs" / "metrics.md").read_text()
    assert "../leaderboards/metric_definitions.md" in docs
    assert "| `lucky_answer_rate` |" not in docs  # defined once, in the packaged file


def test_the_definitions_table_is_checked_when_read() -> None:
    rows = definitions.parse(
        "| metric | column | better | definition |\n|---|---|---|---|\n| `a` | a | higher | x |\n"
    )
    assert rows[0].metric == "a" and rows[0].higher_is_better is True
    with pytest.raises(ValueError, match="better in"):
        definitions.parse("| metric | column | better | definition |\n| `a` | a | upward | x |\n")
    with pytest.raises(ValueError, match="no table"):
        definitions.parse("# nothing here\n")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (apt-get install -y chromium)")
def test_in_a_real_browser_the_tables_fit_and_sort(built: tuple, tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.html"
    path.write_text(built[0], encoding="utf-8")
    for width in (1400, 500):
        seen = measure("chromium", path, width)
        assert seen["page_width"] <= width  # the page itself never scrolls sideways
        assert all(t["first_column"] == "sticky" for t in seen["tables"])
        assert not seen["group_row_click_changed_order"]
        first, second = seen["sorted"]["consistency_rate"]
        assert (first["aria_sort"], second["aria_sort"]) == ("descending", "ascending")
        for click in (first, second):
            filled = [float(v) for v in click["order"] if v != ""]
            assert click["order"][-1] == "" and filled == sorted(filled, reverse=click is first)
