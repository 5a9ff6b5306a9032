"""The exported champion's folder is replaced while the stream may be reading it."""

from __future__ import annotations

import threading

import pytest

from fraudguard.folders import replacing


def test_a_reader_always_finds_a_complete_folder_while_it_is_replaced(tmp_path):
    target = tmp_path / "champion"
    with replacing(target) as staging:
        (staging / "metadata.json").write_text("000")
        (staging / "pipeline").write_text("000")
    failures: list[str] = []
    stop = threading.Event()
    reads = 0
    read_done = threading.Condition()

    def read() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                version = (target / "metadata.json").read_text()
                if (
                    target / "pipeline"
                ).read_text() < version:  # a later pipeline is fine, never an older one
                    failures.append(f"metadata {version} with an older pipeline")
            except OSError as error:
                failures.append(repr(error))
            with read_done:
                reads += 1
                read_done.notify_all()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in range(1, 200):
            with replacing(target) as staging:
                (staging / "pipeline").write_text(str(version).zfill(3))
                (staging / "metadata.json").write_text(str(version).zfill(3))
            # The swap keeps the version before the current one: a read that overlaps one replacement
            # finds its folder. Wait for the read under way and for one that started after this one.
            with read_done:
                seen = reads
                assert read_done.wait_for(lambda seen=seen: reads >= seen + 2, timeout=10)
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert (target / "metadata.json").read_text() == "199"
    assert len(list(tmp_path.glob(".champion-*"))) == 2, "the current version and the one before it"


def test_a_plain_folder_in_the_way_is_replaced_too(tmp_path):
    target = tmp_path / "champion"
    target.mkdir()  # as an export written in place left it
    (target / "metadata.json").write_text("old")
    with replacing(target) as staging:
        (staging / "metadata.json").write_text("new")
    assert target.is_symlink() and (target / "metadata.json").read_text() == "new"
    with replacing(target) as staging:
        (staging / "metadata.json").write_text("newer")
    assert (target / "metadata.json").read_text() == "newer"
    assert len(list(tmp_path.glob(".champion-*"))) == 2, "the old plain folder is gone too"


def test_a_failed_export_leaves_the_folder_as_it_was(tmp_path):
    target = tmp_path / "champion"
    with replacing(target) as staging:
        (staging / "metadata.json").write_text("1")
    with pytest.raises(RuntimeError), replacing(target) as staging:
        (staging / "metadata.json").write_text("2")
        raise RuntimeError("the model could not be written")
    assert (target / "metadata.json").read_text() == "1"
    assert len(list(tmp_path.glob(".champion-*"))) == 1
