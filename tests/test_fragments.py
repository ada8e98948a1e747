"""A large inventory document is parsed in fragments (fragments.py), with exactly the results of
the whole document: the same report, the same input errors at the same lines, or, when a cut was
wrong, the document read whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from itscm_check import cache, cli, engine, fragments, parallel

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """200 services, their teams, sites, vendors and waivers in one document of about 300 KB."""
    out = tmp_path_factory.mktemp("generated") / "inventory"
    subprocess.run([sys.executable, str(BENCHMARKS / "generate.py"), "--services", "200", "--files", "8",
                    "--one-document", "--out", str(out)], check=True, capture_output=True)
    return (out / "inventory.yaml").read_bytes()


@pytest.fixture
def cut(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Cut documents of 10 KB or more into fragments of about 20 KB, parsed in this process (no
    forked child parses a few changed parts), so that the list gets what each fragment's check said."""
    monkeypatch.setattr(fragments, "SPLIT_BYTES", 10_000)
    monkeypatch.setattr(fragments, "FRAGMENT_BYTES", 20_000)
    monkeypatch.setattr(parallel, "forked_cpus", lambda: 1)
    verdicts: list[bool] = []

    def fits(fragment: fragments.Fragment, checked: cache.Checked) -> bool:
        verdicts.append(fragments.fits(fragment, checked))
        return verdicts[-1]

    monkeypatch.setattr(cache, "fits", fits)
    return verdicts


def whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fragments, "SPLIT_BYTES", 10**12)


def outcome(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, command: str, *extra: str
            ) -> tuple[int, bytes, str]:
    """Exit code, JSON report (of check) and stderr of ``command`` on ``content`` as the inventory."""
    inventory = tmp_path / "inv"
    inventory.mkdir(exist_ok=True)
    (inventory / "inventory.yaml").write_bytes(content)
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    args = [command, "--inventory", str(inventory), *extra]
    if command == "check":
        args += ["--as-of", "2026-06-30", "--format", "json", "--output", str(report)]
    capsys.readouterr()
    code = cli.main(args)
    return code, report.read_bytes() if report.exists() else b"", capsys.readouterr().err


def indented(content: bytes) -> bytes:
    """The same document with every list indented under its key (`services:\\n  - id: ...`)."""

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
            return super().increase_indent(flow, False)

    data = yaml.safe_load(content)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=110).encode()


def test_a_document_is_cut_between_the_items_of_its_top_level_lists(document: bytes, cut: list[bool]) -> None:
    plan = fragments.plan(document)
    assert plan is not None and len(plan) > 5
    assert plan[0].keys[:2] == ("apiVersion", "metadata") and plan[0].index_offset == 0
    continuations = [fragment for fragment in plan if fragment.index_offset]
    assert continuations and all(fragment.keys in (("teams",), ("services",), ("waivers",)) for fragment in continuations)
    # Without the key line a continuation is given, the fragments are the document, line by line.
    rest = b"".join(f.content.split(b"\n", 1)[1] if f.index_offset else f.content for f in plan)
    assert rest == document
    lines = 0
    for fragment in plan:
        assert fragment.line_shift == lines - (1 if fragment.index_offset else 0)
        lines += fragment.content.count(b"\n") - (1 if fragment.index_offset else 0)


@pytest.mark.parametrize("shape", ["as dumped", "indented lists", "CRLF"])
def test_fragments_give_the_report_of_the_whole_document(shape: str, document: bytes, cut: list[bool], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    content = {"as dumped": document, "indented lists": indented(document),
               "CRLF": document.replace(b"\n", b"\r\n")}[shape]
    cached = ("--cache-dir", str(tmp_path / "cache"))
    cold = outcome(tmp_path, capsys, content, "check", *cached)
    checked = len(cut)
    assert checked > 5 and all(cut)
    warm = outcome(tmp_path, capsys, content, "check", *cached)
    assert len(cut) == checked  # a warm run parses nothing again
    fragmented = outcome(tmp_path, capsys, content, "check", "--no-cache")
    whole(monkeypatch)
    reference = outcome(tmp_path, capsys, content, "check", "--no-cache")
    assert reference[0] == 1 and reference[1]  # findings, and a report
    assert cold == warm == fragmented == reference


def edit_service(content: bytes, number: int, old: bytes, new: bytes) -> bytes:
    """``content`` with ``old`` replaced by ``new`` in the service ``number`` (counting from 0)."""
    at = content.index(b"\nservices:\n")
    for _ in range(number + 1):
        at = content.index(b"\n- id: ", at + 1)
    end = content.index(b"\n- ", at + 1)
    assert old in content[at:end], old
    return content[:at] + content[at:end].replace(old, new, 1) + content[end:]


def test_schema_errors_in_a_fragment_name_the_item_of_the_whole_list(document: bytes, cut: list[bool], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    broken = edit_service(document, 150, b"\n  tier: ", b"\n  colour: blue\n  tier: 9\n  x-tier: ")
    cached = ("--cache-dir", str(tmp_path / "cache"))
    cold = outcome(tmp_path, capsys, broken, "validate", *cached)
    warm = outcome(tmp_path, capsys, broken, "validate", *cached)  # from the parse cache's entry
    assert cut and all(cut)
    whole(monkeypatch)
    reference = outcome(tmp_path, capsys, broken, "validate", "--no-cache")
    assert reference[0] == 2
    assert "services[150]: unknown key 'colour'" in reference[2] and "services[150].tier: 9 is out of range" in reference[2]
    assert cold == warm == reference


@pytest.mark.parametrize("change", ["a quoted scalar hides an item", "a syntax error", "an id defined twice",
                                    "a flow list hides a key"])
def test_what_the_cuts_do_not_fit_is_read_as_the_whole_document(change: str, document: bytes, cut: list[bool],
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    first_id = document.split(b"\nservices:\n- id: ", 1)[1].split(b"\n", 1)[0]
    content = {
        # libyaml takes a quoted scalar's next line at column 0; "- x" there is no item.
        "a quoted scalar hides an item": edit_service(document, 120, b"\n  name: ", b'\n  x-note: "two\n- lines"\n  name: '),
        "a syntax error": edit_service(document, 100, b"\n  name: ", b"\n  x-note: [1\n  name: "),
        "an id defined twice": edit_service(document, 180, b"- id: ", b"- id: " + first_id + b"\n  x-was: "),
        "a flow list hides a key": edit_service(document, 90, b"\n  name: ", b"\n  x-list: [1,\nx-hidden: 2]\n  name: "),
    }[change]
    split = outcome(tmp_path, capsys, content, "check", "--no-cache")
    assert cut and (all(cut) if change == "an id defined twice" else not all(cut))
    whole(monkeypatch)
    assert split == outcome(tmp_path, capsys, content, "check", "--no-cache")


def test_a_key_line_and_odd_line_breaks_keep_their_lines(document: bytes, cut: list[bool], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Found by review: a continuation's key reported again at the line it was given, and lines
    counted after a line break PyYAML counts but that is no LF (here a line separator)."""
    misspelt = document.replace(b"\nservices:\n", b"\nservces:\n")
    separated = edit_service(document, 2, b"\n  name: ", b'\n  x-n: "a\xe2\x80\xa8b"\n  name: ')
    separated = edit_service(separated, 150, b"\n  tier: ", b"\n  tier: 9\n  x-tier: ")
    outcomes = []
    for content in (misspelt, separated):
        monkeypatch.setattr(fragments, "SPLIT_BYTES", 10_000)
        split = outcome(tmp_path, capsys, content, "validate", "--no-cache")
        whole(monkeypatch)
        assert split == outcome(tmp_path, capsys, content, "validate", "--no-cache")
        outcomes.append(split[2])
    assert cut and all(cut)
    key_line = document[:document.index(b"\nservices:\n")].count(b"\n") + 2
    assert outcomes[0].count("unknown key 'servces'") == 1 and f"inventory.yaml:{key_line}: " in outcomes[0]
    assert "services[150].tier: 9 is out of range" in outcomes[1]


@pytest.mark.parametrize("content", [
    b"services:\n- id: a\n" * 1,  # too small
    b"\xef\xbb\xbfservices:\n" + b"- id: a\n" * 3000,  # a byte-order mark
    b"services:\n" + b"- id: a\n" * 3000 + b"services:\n- id: b\n",  # a duplicate key: read whole, which reports it
    b"'services':\n" + b"- id: a\n" * 3000,  # a quoted key
    b"%YAML 1.1\n---\nservices:\n" + b"- id: a\n" * 3000,  # a directive
    b"- id: a\n" * 3000,  # a list, not a mapping
    b"services: [\n" + b"a,\n" * 5000 + b"]\n",  # no block list: nothing to cut
    # An anchor: an alias may cross fragments, and aliases expand the whole document, not a fragment.
    b"services:\n- &first {id: a}\n" + b"- id: b\n" * 3000,
])
def test_documents_that_are_not_cut(content: bytes, cut: list[bool]) -> None:
    assert fragments.plan(content) is None


def test_a_change_parses_the_fragment_it_is_in_again(document: bytes, cut: list[bool], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Each fragment has its own entries, as a file has: after one service changes, the fragment
    that holds it is parsed again and the others come from the cache."""
    cached = ("--cache-dir", str(tmp_path / "cache"))
    outcome(tmp_path, capsys, document, "check", *cached)
    fragments_parsed = len(cut)
    changed = edit_service(document, 150, b"\n  name: ", b"\n  name: Renamed ")
    warm = outcome(tmp_path, capsys, changed, "check", *cached)
    assert fragments_parsed > 5 and len(cut) == fragments_parsed + 1
    whole(monkeypatch)
    assert warm == outcome(tmp_path, capsys, changed, "check", "--no-cache")


def add_service(content: bytes, number: int) -> bytes:
    """``content`` with a copy of the service ``number`` (counting from 0), under another id, before it."""
    at = content.index(b"\nservices:\n")
    for _ in range(number + 1):
        at = content.index(b"\n- id: ", at + 1)
    end = content.index(b"\n- ", at + 1)
    return content[:at] + content[at:end].replace(b"- id: ", b"- id: added-", 1) + content[at:]


def test_the_cuts_depend_on_the_items_not_on_where_they_are(document: bytes, cut: list[bool]) -> None:
    """An added service changes the bytes of the fragment it is added to, and at most of the next
    two (cuts it made possible); the cuts after those are where they were."""
    before = fragments.plan(document)
    assert before is not None and len(before) > 5
    for number in range(40, 200, 7):
        after = fragments.plan(add_service(document, number))
        assert after is not None
        kept = [fragment.content in {earlier.content for earlier in before} for fragment in after]
        changed = [index for index, same in enumerate(kept) if not same]
        assert 1 <= len(changed) <= 3 and changed == list(range(changed[0], changed[-1] + 1)), (number, kept)


@pytest.mark.parametrize("added_at", [30, 190])
def test_a_fragment_after_an_added_service_comes_from_the_cache(added_at: int, document: bytes, cut: list[bool],
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The fragments after an added service keep their parse entries, placed again, and their
    findings, moved: lines and indices as the whole document has them. An entry with errors is
    parsed again at its new place."""
    skipped: list[frozenset[str]] = []  # by a rule that reads one service, the services whose findings were kept
    real = engine._declarative

    def spy(rule, kind, subjects, as_of, passing, skip):  # type: ignore[no-untyped-def]  # the engine's own signature
        if rule.id == "ITSCM-015":
            skipped.append(skip)
        return real(rule, kind, subjects, as_of, passing, skip)

    monkeypatch.setattr(engine, "_declarative", spy)
    cached = ("--cache-dir", str(tmp_path / "cache"))
    outcome(tmp_path, capsys, document, "check", *cached)
    broken = edit_service(document, 170, b"\n  tier: ", b"\n  tier: 9\n  x-tier: ")
    outcome(tmp_path, capsys, broken, "validate", *cached)
    parsed = len(cut)
    # The fragment of the added service, then (validate) that of the error if it comes after it.
    expected = [("check", document, 1), ("validate", broken, 1 if added_at < 170 else 0)]
    for command, content, parsed_again in expected:
        added = add_service(content, added_at)
        skipped.clear()
        warm = outcome(tmp_path, capsys, added, command, *cached)
        assert len(cut) - parsed == parsed_again
        if command == "check":  # all but the services of the fragment the service was added to
            assert 200 - 30 < len(skipped[0]) < 200
        parsed = len(cut)
        monkeypatch.setattr(fragments, "SPLIT_BYTES", 10**12)
        assert warm == outcome(tmp_path, capsys, added, command, "--no-cache")
        monkeypatch.setattr(fragments, "SPLIT_BYTES", 10_000)
        # And what that run wrote: the findings a part kept while those it names changed, at its new lines.
        assert outcome(tmp_path, capsys, added, command, *cached) == warm
        parsed = len(cut)
        if command == "check":
            assert warm[0] == 1 and warm[1]
        else:
            assert f"services[{170 + (added_at < 170)}].tier: 9 is out of range" in warm[2]


@pytest.mark.parametrize("hidden", [False, True])
def test_the_fragments_after_an_added_service_are_shared_by_two_processes(hidden: bool, document: bytes,
                                                                            tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch,
                                                                            capfd: pytest.CaptureFixture[str]) -> None:
    """Many parts without a records' entry are built half by a forked child, half by this
    process, either of which may find a fragment that does not fit its cuts (here this process:
    the last fragment hides an item)."""
    monkeypatch.setattr(fragments, "SPLIT_BYTES", 10_000)
    monkeypatch.setattr(fragments, "FRAGMENT_BYTES", 8_000)
    cached = ("--cache-dir", str(tmp_path / "cache"))
    outcome(tmp_path, capfd, document, "check", *cached)
    added = add_service(document, 30)
    if hidden:
        added = edit_service(added, 195, b"\n  name: ", b'\n  x-note: "two\n- lines"\n  name: ')
    warm = outcome(tmp_path, capfd, added, "check", *cached)
    assert "Traceback" not in warm[2] and warm[0] == 1
    whole(monkeypatch)
    assert warm == outcome(tmp_path, capfd, added, "check", "--no-cache")


def one_rule(tmp_path: Path, subject: str, fail_when: str) -> tuple[str, str]:
    """The options that add a policy of one rule, ORG-900, on ``subject`` with ``fail_when``."""
    policy = tmp_path / "custom.yaml"
    policy.write_text(f"""apiVersion: itscm/v1
kind: Policy
metadata: {{name: custom}}
rules:
  - id: ORG-900
    title: Where records are written
    description: Reads where records are written.
    remediation: Move them.
    severity: high
    controls: [ISO22301:8.2.2]
    subject: {subject}
    fail_when: {fail_when}
""", encoding="utf-8")
    return "--policies", str(policy)


def test_a_rule_that_reads_lines_is_evaluated_again_after_an_added_service(document: bytes, cut: list[bool],
                                                                            tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A rule may read where a record is written (``source.line``): its findings move with more than
    their lines, so the findings cache does not keep them."""
    rules = one_rule(tmp_path, "service", '{path: source.line, gt: 6000, message: "written at line {source.line}"}')
    cached = ("--cache-dir", str(tmp_path / "cache"))
    outcome(tmp_path, capsys, document, "check", *cached, *rules)
    added = add_service(document, 30)
    warm = outcome(tmp_path, capsys, added, "check", *cached, *rules)
    whole(monkeypatch)
    reference = outcome(tmp_path, capsys, added, "check", "--no-cache", *rules)
    assert warm == reference and b"written at line" in reference[1]


def test_a_rule_that_compares_where_records_are_is_evaluated_again_after_documents_swap(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found by review: a rule may compare two records' places (``source``) without reading a line;
    two documents that swap places keep their bytes, but not its outcome."""
    out = tmp_path / "generated"
    subprocess.run([sys.executable, str(BENCHMARKS / "generate.py"), "--services", "24", "--files", "4",
                    "--single-file", "--out", str(out)], check=True, capture_output=True)
    documents = (out / "inventory.yaml").read_text(encoding="utf-8").split("\n---\n")
    rules = one_rule(tmp_path, "dependency",
                     '{path: source, lt: {path: target.source}, message: "depends on {target.id}, written further down"}')
    cached = ("--cache-dir", str(tmp_path / "cache"))
    outcome(tmp_path, capsys, "\n---\n".join(documents).encode(), "check", *cached, *rules)
    documents[1], documents[3] = documents[3], documents[1]
    swapped = "\n---\n".join(documents).encode()
    warm = outcome(tmp_path, capsys, swapped, "check", *cached, *rules)
    assert warm == outcome(tmp_path, capsys, swapped, "check", "--no-cache", *rules) and b"ORG-900" in warm[1]


def test_the_documents_after_an_added_service_keep_their_findings_moved(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The same for the later documents of a file of several, which are parts of their own."""
    out = tmp_path / "generated"
    subprocess.run([sys.executable, str(BENCHMARKS / "generate.py"), "--services", "100", "--files", "4",
                    "--single-file", "--out", str(out)], check=True, capture_output=True)
    stream = (out / "inventory.yaml").read_bytes()
    at = stream.index(b"\nservices:\n", stream.index(b"\n---", stream.index(b"\n---") + 1)) + len(b"\nservices:")
    end = stream.index(b"\n- ", at + 1)
    added = stream[:at] + stream[at:end].replace(b"- id: ", b"- id: added-", 1) + stream[at:]
    cached = ("--cache-dir", str(tmp_path / "cache"))
    outcome(tmp_path, capsys, stream, "check", *cached)
    warm = outcome(tmp_path, capsys, added, "check", *cached)
    assert warm == outcome(tmp_path, capsys, added, "check", "--no-cache") and warm[0] == 1


def test_the_passing_checks_of_a_moved_fragment_come_from_the_cache(document: bytes, cut: list[bool], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A JUnit report holds every check, kept in entries of their own: those of the fragments
    after an added service too, with the lines of their failures moved."""
    inventory = tmp_path / "inv"
    inventory.mkdir()

    def junit(content: bytes, *cache_args: str) -> str:
        (inventory / "inventory.yaml").write_bytes(content)
        report = tmp_path / "report.xml"
        assert cli.main(["check", "--inventory", str(inventory), "--as-of", "2026-06-30", "--format", "junit",
                         "--output", str(report), *cache_args]) == 1
        return report.read_text(encoding="utf-8")

    cached = ("--cache-dir", str(tmp_path / "cache"))
    junit(document, *cached)
    parsed = len(cut)
    added = add_service(document, 30)
    warm = junit(added, *cached)
    assert len(cut) == parsed + 1
    whole(monkeypatch)
    reference = junit(added, "--no-cache")
    assert warm == reference and reference.count("<testcase ") > 2000


def test_a_document_that_did_not_fit_its_cuts_is_read_whole_at_once_next_time(
        document: bytes, cut: list[bool], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    content = edit_service(document, 120, b"\n  name: ", b'\n  x-note: "two\n- lines"\n  name: ')
    cached = ("--cache-dir", str(tmp_path / "cache"))
    first = outcome(tmp_path, capsys, content, "check", *cached)
    assert not all(cut)
    checked = len(cut)
    (tmp_path / "report.json").unlink()
    second = outcome(tmp_path, capsys, content, "check", *cached)
    assert len(cut) == checked  # the cache marks the document: no fragment is tried again
    whole(monkeypatch)
    assert first == second == outcome(tmp_path, capsys, content, "check", "--no-cache")


def test_a_misfit_found_by_the_forked_child_is_read_whole(document: bytes, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    """A pull request's few changed parts are parsed by a forked child (model_cache), here with a
    pool of workers: a fragment that does not fit there sends the document to be read whole all
    the same, and the child's workers stop without a word (found by review: they printed
    BrokenPipeError tracebacks)."""
    monkeypatch.setattr(fragments, "SPLIT_BYTES", 10_000)
    monkeypatch.setattr(fragments, "FRAGMENT_BYTES", 8_000)
    monkeypatch.setattr(cache, "_PARALLEL_BYTES", 20_000)
    cached = ("--cache-dir", str(tmp_path / "cache"))
    other = tmp_path / "inv" / "other.yaml"
    other.parent.mkdir()
    other.write_text("teams:\n  - id: other-team\n    name: Other\n", encoding="utf-8")
    outcome(tmp_path, capfd, document, "check", *cached)
    hidden = edit_service(document, 3, b"\n  name: ", b'\n  x-note: "two\n- lines"\n  name: ')
    split = outcome(tmp_path, capfd, hidden, "check", *cached)
    assert "Traceback" not in split[2] and "Error" not in split[2]
    whole(monkeypatch)
    assert split == outcome(tmp_path, capfd, hidden, "check", "--no-cache")
