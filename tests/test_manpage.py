"""man/ holds one page per command, exactly as the Typer app generates them now."""

from __future__ import annotations

from pathlib import Path

from nnet.manpage import pages

MAN = Path(__file__).resolve().parents[1] / "man"


def test_man_pages_are_up_to_date() -> None:
    want = pages()
    have = {p.name: p.read_text() for p in MAN.glob("nnet*.1")}
    missing = sorted(set(want) - set(have))
    stale = sorted(set(have) - set(want))
    outdated = sorted(n for n in set(want) & set(have) if want[n] != have[n])
    assert not (missing or stale or outdated), (
        f"man pages out of date (run `make man`): missing {missing}, stale {stale}, "
        f"outdated {outdated}"
    )


def test_every_command_has_a_page() -> None:
    names = set(pages())
    assert {"nnet.1", "nnet-key-new.1", "nnet-transfer.1", "nnet-tx-verify.1"} <= names
