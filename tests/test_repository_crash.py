"""Kill a writing process at random points; whatever it leaves must be consistent and reusable."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from core.repository import RawKey, Repository
from core.store import FileStore

ROOT = Path(__file__).resolve().parent.parent
KEY = RawKey(bytes(range(32)))
STABLE = 150  # objects every round writes again (unchanged across rounds): the reuse the next run gets

CHILD = textwrap.dedent(
    """
    import itertools, json, os, sys
    from pathlib import Path
    from core.repository import RawKey, Repository
    from core.store import FileStore

    repo = Repository.open(FileStore(Path(sys.argv[1])), key=RawKey(bytes(range(32))))
    run, stable = sys.argv[2], int(sys.argv[3])
    for round_no in itertools.count():
        with repo.writer() as writer:
            ids = [writer.add_blob(json.dumps({"id": i, "pad": "s" * 150}).encode()) for i in range(stable)]
            for i in range(150):
                fresh = {"id": f"{run}-{round_no}-{i}", "pad": os.urandom(60).hex()}
                ids.append(writer.add_blob(json.dumps(fresh).encode()))
            page = writer.add_blob(json.dumps({"blobs": ids}).encode(), kind="tree")
        print("snapshot", repo.save_snapshot({"roots": [page], "run": run, "round": round_no}), flush=True)
    """
)


def stable_blob(i: int) -> bytes:
    return json.dumps({"id": i, "pad": "s" * 150}).encode()


def run_and_kill(store_dir: Path, run: int, delay: float) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(store_dir), str(run), str(STABLE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None and child.stderr is not None
    try:
        # One complete snapshot first, so every run leaves indexed packs to reuse; then a random moment.
        first = child.stdout.readline()
        assert first.startswith("snapshot "), child.stderr.read()
        time.sleep(delay)
    finally:
        child.kill()
        child.communicate()


def assert_consistent(store_dir: Path) -> Repository:
    """Every visible file is whole, every snapshot reads back completely, temp files are never listed."""
    for path in store_dir.rglob("*"):
        if path.is_dir() or path.name.startswith(".tmp-"):
            continue
        relative = path.relative_to(store_dir).as_posix()
        if relative.split("/")[0] in ("packs", "index", "keys"):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, relative
    store = FileStore(store_dir)
    assert not any(".tmp-" in key for key in store.list(""))
    repo = Repository.open(store, key=KEY)
    for snapshot_id, record in repo.list_snapshots():
        reachable, problems = repo.reachable(record["roots"])
        assert problems == [], (snapshot_id, problems)
        contents = dict(repo.read_blobs(reachable))
        page = json.loads(contents[record["roots"][0]])
        assert len(page["blobs"]) == STABLE + 150
        assert [json.loads(contents[i])["id"] for i in page["blobs"][:STABLE]] == list(range(STABLE))
    return repo


def test_killed_writers_leave_only_complete_snapshots_and_reusable_packs(tmp_path: Path) -> None:
    store_dir = tmp_path / "repo"
    Repository.init(FileStore(store_dir), key=KEY, pack_size=8 * 1024, segment_size=4 * 1024)
    delays = random.Random(20261127)
    for run in range(4):
        run_and_kill(store_dir, run, delays.uniform(0.0, 0.4))
        assert_consistent(store_dir)

    repo = assert_consistent(store_dir)
    assert len(repo.list_snapshots()) >= 4
    with repo.writer() as writer:
        ids = [writer.add_blob(stable_blob(i)) for i in range(STABLE)]
        fresh = writer.add_blob(b'{"id":"after the crashes"}')
        page = writer.add_blob(json.dumps({"blobs": [*ids, fresh]}).encode(), kind="tree")
    assert repo.stats.blobs_deduplicated == STABLE  # every stable object came from an indexed pack
    assert repo.stats.blobs_written == 2
    snapshot_id = repo.save_snapshot({"roots": [page]})
    assert json.loads(repo.read_blob(repo.load_snapshot(snapshot_id)["roots"][0]))["blobs"][-1] == fresh

    report = repo.verify(read_data=True)
    assert report.ok, report.errors
    later = time.time() + 2 * 3600
    repo.clock = lambda: later
    repo.prune({sid for sid, _ in repo.list_snapshots()})
    after = repo.verify(read_data=True)
    assert after.ok and after.packs_unindexed == 0
