"""The ledger: rows before and after the POST, safe across threads and processes, sums for caps; on SQLite (with
the journal its folder's filesystem suits) and on PostgreSQL."""

import logging
import multiprocessing
import sqlite3
import threading
import time

import pytest

from playground.contract import SPICY
from playground.errors import ValidationError
from playground.jobs import PENDING, Ledger, account_tag, choose_journal, fingerprint, journal_for_mounts
from playground.status import COMPLETED, CREATED, FAILED, LOST, PROCESSING, REJECTED, UNKNOWN

pytestmark = pytest.mark.ledger_backends("sqlite", "postgres")

PARAMS = {"image": "https://x/a.png", "resolution": "480p", "duration": 4, "generate_audio": True, "seed": 7}


def _record(ledger, **kw):
    return ledger.record_pending(base_url="http://api", model=SPICY, params=PARAMS, fingerprint="fp", cost=0.096,
                                 **kw)


def test_a_row_is_pending_until_updated_and_keeps_its_fields(ledger, tmp_path):
    job_id = _record(ledger, account=account_tag("secret-key"), session="s1")
    job = ledger.get(job_id)
    assert job.status == PENDING and job.unfinished and job.seed == 7 and job.resolution == "480p"
    assert ledger.move(job_id, COMPLETED, request_id="abc", outputs=["http://o/1.mp4"], nsfw=[False],
                       inference_ms=1200)
    job = ledger.get(job_id)
    assert job.outputs == ["http://o/1.mp4"] and job.inference_ms == 1200
    assert job.unfinished  # completed but no local video yet: still owed
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    ledger.update(job_id, video_path=str(video))
    assert not ledger.get(job_id).unfinished
    assert ledger.find_reusable("fp").id == job_id
    assert ledger.by_request_id("abc").id == job_id


def test_spending_is_summed_per_account_and_session_and_excludes_refunds(ledger):
    a, b = account_tag("key-a"), account_tag("key-b")
    j1 = _record(ledger, account=a, session="s1")
    _record(ledger, account=a, session="s2")
    j3 = _record(ledger, account=b, session="s1")
    ledger.move(j3, FAILED)
    assert ledger.spent(account=a) == 0.192
    assert ledger.spent(account=a, session="s1") == 0.096
    assert ledger.spent(account=b) == 0.0
    assert ledger.spent(since=time.time() + 10) == 0.0
    ledger.move(j1, REJECTED)
    assert ledger.spent(account=a) == 0.096


def test_inference_stats_come_from_completed_runs_of_the_same_shape(ledger):
    assert ledger.inference_stats(SPICY, "480p", 4) is None
    for ms in (1000, 1200, 1100, 5000):
        j = _record(ledger)
        ledger.move(j, COMPLETED, inference_ms=ms)
    median, spread = ledger.inference_stats(SPICY, "480p", 4)
    assert median == 1.2 and 0.06 <= spread <= 0.2
    assert ledger.inference_stats(SPICY, "720p", 4) is None


def test_fingerprint_depends_on_content_not_upload_urls():
    p1 = {**PARAMS, "image": "https://cdn/1.png"}
    p2 = {**PARAMS, "image": "https://cdn/2.png"}
    h = {"image": "abc"}
    assert fingerprint("u", SPICY, p1, h) == fingerprint("u", SPICY, p2, h)
    assert fingerprint("u", SPICY, p1, h) != fingerprint("u", SPICY, {**p1, "seed": 8}, h)
    assert fingerprint("u", SPICY, p1, h) != fingerprint("other", SPICY, p1, h)
    assert fingerprint("u", SPICY, p1, h) != fingerprint("u", SPICY, p1, {"image": "abd"})


def test_account_tag_is_one_way_and_short():
    tag = account_tag("sk-very-secret-0123456789")
    assert len(tag) == 12 and "secret" not in tag and tag == account_tag("sk-very-secret-0123456789")
    assert account_tag("") == ""


def _write_rows(open_args, n):
    ledger = Ledger(**open_args)
    for _ in range(n):
        j = _record(ledger)
        ledger.move(j, PROCESSING)


def test_many_threads_and_processes_write_without_losing_rows(ledger):
    where = ledger.open_args()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_rows, args=(where, 25)) for _ in range(2)]
    threads = [threading.Thread(target=_write_rows, args=(where, 25)) for _ in range(3)]
    for w in (*procs, *threads):
        w.start()
    for w in (*procs, *threads):
        w.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(Ledger(**where).jobs()) == 125 == len(ledger.jobs())


def test_uploads_are_cached_per_backend(ledger):
    ledger.remember_upload("h", "http://a", "http://a/u.png")
    assert ledger.cached_upload("h", "http://a") == "http://a/u.png"
    assert ledger.cached_upload("h", "http://b") is None
    ledger.forget_upload("h", "http://a")
    assert ledger.cached_upload("h", "http://a") is None


def test_history_is_a_dataframe_newest_first(ledger):
    first = _record(ledger)
    second = _record(ledger)
    df = ledger.history()
    assert list(df["id"]) == [second, first]
    assert {"status", "request_id", "cost", "seed", "video_path", "prompt"} <= set(df.columns)


def test_a_row_moves_only_forward_along_the_table_and_its_status_changes_only_by_moving(ledger):
    job = _record(ledger)
    with pytest.raises(KeyError, match="Ledger.move"):
        ledger.update(job, status=COMPLETED)
    assert ledger.move(job, CREATED, request_id="t1") and ledger.move(job, PROCESSING)
    assert not ledger.move(job, CREATED) and not ledger.move(job, PENDING) and not ledger.move(job, REJECTED)
    assert ledger.get(job).status == PROCESSING and ledger.get(job).request_id == "t1"
    assert ledger.move(job, COMPLETED, outputs=["http://o/1.mp4"])
    assert ledger.move(job, COMPLETED, video_path="/v.mp4")  # staying put: only columns change
    for backwards in (PROCESSING, FAILED, LOST, UNKNOWN):
        assert not ledger.move(job, backwards, error="x")
    job_row = ledger.get(job)
    assert (job_row.status, job_row.video_path, job_row.error) == (COMPLETED, "/v.mp4", "")
    with pytest.raises(ValueError, match="not a ledger status"):
        ledger.move(job, "done")


def _end_racing(open_args, job_ids, results):
    ledger = Ledger(**open_args)
    results.extend(job_id for job_id in job_ids if ledger.end(job_id, COMPLETED, completed_by="webhook"))


def _claim_deliveries(open_args, task_ids, queue):
    ledger = Ledger(**open_args)
    queue.put([t for t in task_ids if ledger.record_delivery(t, {"id": t, "status": COMPLETED})])


def test_an_end_and_a_delivery_are_recorded_once_across_processes(ledger):
    jobs = [_record(ledger) for _ in range(20)]
    for job in jobs:
        ledger.move(job, PROCESSING)
    tasks = [f"task-{i}" for i in range(40)]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_claim_deliveries, args=(ledger.open_args(), tasks, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    ended: list[int] = []
    threads = [threading.Thread(target=_end_racing, args=(ledger.open_args(), jobs, ended)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    claimed = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert sorted(ended) == jobs  # each end written by exactly one of the racing writers
    assert sorted(t for mine in claimed for t in mine) == sorted(tasks)  # each delivery claimed by one process
    assert not ledger.record_delivery("task-3") and ledger.delivery("task-3") == {"id": "task-3", "status": COMPLETED}
    assert ledger.delivery("never-delivered") is None
    assert not ledger.end(jobs[0], FAILED) and ledger.get(jobs[0]).status == COMPLETED
    with pytest.raises(ValueError, match="not the end"):
        ledger.end(jobs[0], PROCESSING)
    lost = _record(ledger)
    assert ledger.move(lost, LOST) and not ledger.end(lost, COMPLETED)


# --- SQLite's journal: WAL where the folder's filesystem shares memory, the rollback journal where it cannot ---------

MOUNTS = """\
overlay / overlay rw,relatime 0 0
tmpfs /tmp tmpfs rw 0 0
/dev/sda1 /data ext4 rw 0 0
hf-bucket /data fuse.hf-mount rw,nosuid 0 0
server:/export /mnt/nfs nfs4 rw 0 0
//host/share /mnt/smb cifs rw 0 0
share /mnt/p9 9p rw 0 0
10.0.0.1:/ /mnt/ceph ceph rw 0 0
bucket /mnt/gcs fuse.gcsfuse rw 0 0
me@host:/ /mnt/my\\040disk fuse.sshfs rw 0 0
/dev/sdc1 /mnt/nfs/local ext4 rw 0 0
"""


@pytest.mark.parametrize("folder, journal", [
    ("/home/me/.local/share/seedance-playground", "wal"),   # the root's overlay
    ("/tmp/x", "wal"),
    ("/data/seedance-playground", "delete"),    # a Space's bucket, mounted over the disk at the same point
    ("/data2/seedance-playground", "wal"),      # /data is not a prefix of /data2
    ("/mnt/nfs/ledger", "delete"),
    ("/mnt/nfs/local/ledger", "wal"),           # the longest mount point wins
    ("/mnt/smb", "delete"),
    ("/mnt/p9/a", "delete"),
    ("/mnt/ceph/a", "delete"),
    ("/mnt/gcs/a", "delete"),
    ("/mnt/my disk/ledger", "delete"),          # octal escapes in /proc/mounts
    ("/mnt/my", "wal"),
])
def test_the_journal_follows_the_filesystem_of_the_ledger_folder(folder, journal):
    assert journal_for_mounts(MOUNTS, folder) == journal


def test_the_journal_is_read_from_the_mounts_and_can_be_forced(tmp_path, monkeypatch, caplog):
    mounts = tmp_path / "mounts"
    mounts.write_text(f"overlay / overlay rw 0 0\nbucket {tmp_path} fuse.hf-mount rw 0 0\n")
    with caplog.at_level(logging.INFO, logger="playground.jobs"):
        assert choose_journal(tmp_path / "home", env={}, mounts_file=mounts) == "delete"
    assert "rollback (DELETE)" in caplog.text and "fuse.hf-mount" in caplog.text
    assert choose_journal(tmp_path / "home", env={"PLAYGROUND_SQLITE_JOURNAL": "WAL"}, mounts_file=mounts) == "wal"
    assert choose_journal(tmp_path, env={}, mounts_file=tmp_path / "no-such-file") == "wal"

    monkeypatch.setenv("PLAYGROUND_SQLITE_JOURNAL", "delete")
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    _record(ledger)
    with sqlite3.connect(ledger.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not (tmp_path / "ledger.sqlite3-wal").exists()
    monkeypatch.setenv("PLAYGROUND_SQLITE_JOURNAL", "wal")
    with sqlite3.connect(Ledger(tmp_path / "other.sqlite3").path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    monkeypatch.setenv("PLAYGROUND_SQLITE_JOURNAL", "rollback")
    with pytest.raises(ValidationError, match="PLAYGROUND_SQLITE_JOURNAL: 'rollback' is not one of wal, delete"):
        Ledger(tmp_path / "third.sqlite3")
