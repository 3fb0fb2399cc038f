# SPDX-License-Identifier: GPL-2.0
"""The Python binding against the kernel's text, the C tool and itself."""
import ctypes
import errno
import json
import mmap
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vmaquery

TOP = Path(__file__).resolve().parents[3]
TOOL = Path(os.environ.get("VMAQUERY_TOOL", TOP / "build" / "bin" / "vmaquery"))
BACKENDS = [b for b in ("batch", "query", "text") if b in vmaquery.kernel_backends()]


def test_the_kernel_offers_the_expected_backends():
    """Where the kernel is known (the VM's), a backend it must offer is not
    allowed to go missing and silently skip its half of these tests."""
    want = os.environ.get("VMAQ_EXPECT_BACKENDS")
    if not want:
        pytest.skip("VMAQ_EXPECT_BACKENDS not set: kernel not known")
    assert set(want.split(",")) <= set(BACKENDS)


@pytest.fixture
def sleeper():
    """A child that holds still: its map does not change while we look."""
    p = subprocess.Popen(["sleep", "60"])
    time.sleep(0.2)
    yield p.pid
    p.kill()
    p.wait()


def maps_text(pid):
    with open(f"/proc/{pid}/maps", "rb") as f:
        return os.fsdecode(f.read())


@pytest.mark.parametrize("backend", BACKENDS)
def test_lines_equal_the_kernel_text(backend, sleeper):
    with vmaquery.open(sleeper, backend=backend) as proc:
        assert proc.backend == backend
        assert proc.pid == sleeper
        assert "".join(v.line() for v in proc) == maps_text(sleeper)


@pytest.mark.parametrize("backend", BACKENDS)
def test_records_equal_the_c_tools_json(backend, sleeper):
    out = subprocess.run([str(TOOL), f"--backend={backend}", "maps", "--json",
                          "--build-id", str(sleeper)], check=True,
                         capture_output=True, text=True).stdout
    tool = [json.loads(line) for line in out.splitlines()]
    with vmaquery.open(sleeper, backend=backend) as proc:
        mine = list(proc.vmas(build_id=True))
    assert len(mine) == len(tool)
    for v, t in zip(mine, tool):
        assert (v.start, v.end, v.size) == (int(t["start"], 16), int(t["end"], 16), t["size"])
        assert v.perms == t["perms"] and v.offset == int(t["offset"], 16)
        assert "%02x:%02x" % v.dev == t["dev"] and v.inode == t["inode"]
        assert v.name == t["name"]
        assert (v.build_id.hex() if v.build_id else None) == t["build_id"]


def test_every_readable_process_matches_its_text():
    compared = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            proc = vmaquery.open(int(d.name))
        except (ProcessLookupError, PermissionError):
            continue
        with proc:
            still = False	# a busy process may change while we read:
            for _ in range(5):	# only a map that held still must match
                try:
                    before = maps_text(d.name)
                    mine = "".join(v.line() for v in proc)
                    after = maps_text(d.name)
                except (ProcessLookupError, FileNotFoundError):
                    break
                if mine in (before, after):
                    compared += 1
                    break
                still = still or before == after
            else:
                if still:
                    pytest.fail(f"pid {d.name}: never matched its text")
    assert compared > 0


def test_find_and_lookup():
    pg = mmap.PAGESIZE
    m = mmap.mmap(-1, 4 * pg)
    anchor = ctypes.c_char.from_buffer(m)
    addr = ctypes.addressof(anchor)
    with vmaquery.open() as proc:
        v = proc.find(addr + 5)
        assert v is not None and v.contains(addr + 5) and v.start <= addr
        assert v.perms == "rw-s" and v.is_file	# shared anonymous memory
        assert v.file_offset(v.start + 7) == v.offset + 7
        assert proc.find(0) is None
        assert proc.find(0, next=True) is not None
        exe = os.path.realpath("/proc/self/exe")
        res = proc.lookup([addr, 0, addr + pg, ~0 & (2**64 - 1), addr])
        assert res[0] == res[2] == res[4] == v
        assert res[1] is None and res[3] is None
        assert res[0] is res[4]		# one record per VMA
        code = [x for x in proc.vmas(filter="x,file") if x.name == exe]
        assert code, "the interpreter's code is mapped from its file"
        with_id = proc.lookup([code[0].start], build_id=True)[0]
        assert with_id.build_id and len(with_id.build_id) == 20
        assert all(x.perms[2] == "x" for x in proc.vmas(filter="x"))
    del anchor
    m.close()


def test_snapshot_refreshes_only_when_stale():
    with vmaquery.open() as proc, proc.snapshot() as snap:
        snap.refresh()			# our own allocations settle
        assert not snap.stale()
        n = len(snap)
        m = mmap.mmap(-1, 3 * mmap.PAGESIZE, prot=mmap.PROT_READ)
        assert snap.stale()
        assert snap.refresh()
        assert len(snap) >= n
        v = next(x for x in snap if x.perms == "r--s" and x.size == 3 * mmap.PAGESIZE)
        assert snap.find(v.start + 1) == v
        assert snap.find(0) is None
        m.close()
        assert snap.stale()


@pytest.mark.parametrize("backend", BACKENDS)
def test_snapshot_and_walk_outlive_process_close(backend, sleeper):
    # the audit's F2: after close() they read freed memory, and a snapshot
    # turned into the map of whichever process reused the handle
    proc = vmaquery.open(sleeper, backend=backend)
    snap = proc.snapshot()
    walk = proc.vmas()
    first = next(walk)
    proc.close()
    me = vmaquery.open(backend=backend)	# may reuse memory and fd
    rest = list(walk)
    assert [first] + rest == list(snap)
    assert not snap.refresh()
    assert "".join(v.line() for v in snap) == maps_text(sleeper)
    me.close()
    snap.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_generation_moves_on_change_or_says_it_is_unsupported(backend):
    with vmaquery.open(backend=backend) as proc:
        if backend != "batch":
            with pytest.raises(OSError) as e:
                proc.generation
            assert e.value.errno == errno.EOPNOTSUPP
            return
        g = proc.generation
        assert proc.generation == g
        m = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ)
        assert proc.generation > g
        m.close()


def test_errors_are_oserror_subclasses():
    with pytest.raises(ProcessLookupError) as e:
        vmaquery.open(999999999)
    assert e.value.errno == errno.ESRCH
    with pytest.raises(ValueError):
        vmaquery.open(0, backend="fast")
    with pytest.raises(TypeError):
        vmaquery.open("1")
    with vmaquery.open() as proc:
        with pytest.raises(ValueError):
            list(proc.vmas(filter="q"))
    proc.close()
    with pytest.raises(ValueError):
        proc.find(0)


def test_kernel_thread_has_no_address_space():
    if Path("/proc/2/comm").read_text().strip() != "kthreadd":
        pytest.skip("pid 2 is not kthreadd here")
    with pytest.raises(ProcessLookupError):
        vmaquery.open(2)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to become another user")
def test_permission_denied_as_another_user():
    code = ("import vmaquery, sys\n"
            "try:\n    vmaquery.open(1)\nexcept PermissionError:\n    sys.exit(0)\n"
            "sys.exit(1)\n")
    env = dict(os.environ, PYTHONPATH=str(TOP / "bindings" / "python"))
    r = subprocess.run([sys.executable, "-c", code], env=env,
                       user=65534, group=65534, extra_groups=[])
    assert r.returncode == 0


def test_child_that_exits_gives_process_lookup_error():
    p = subprocess.Popen(["sleep", "60"])
    time.sleep(0.1)
    proc = vmaquery.open(p.pid)
    assert proc.find(0, next=True) is not None
    p.kill()
    p.wait()
    with pytest.raises(ProcessLookupError):
        proc.find(0, next=True)
    with pytest.raises(ProcessLookupError):
        list(proc)
    proc.close()


def test_open_fd_keeps_working_after_the_caller_closes_its_fd():
    fd = os.open("/proc/self/maps", os.O_RDONLY)
    proc = vmaquery.open_fd(fd)
    os.close(fd)
    assert proc.pid is None
    assert proc.find(0, next=True) is not None
    proc.close()


def test_library_not_found_says_where_it_looked(tmp_path):
    code = ("import vmaquery\ntry:\n    vmaquery.kernel_backends()\n"
            "except vmaquery.LibraryNotFound as e:\n    print(e)\n")
    env = dict(os.environ, VMAQUERY_LIBRARY=str(tmp_path / "nope.so"),
               PYTHONPATH=str(TOP / "bindings" / "python"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True).stdout
    assert "nope.so" in out and "VMAQUERY_LIBRARY" in out
