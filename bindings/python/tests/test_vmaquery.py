# SPDX-License-Identifier: GPL-2.0
"""The Python binding against the kernel's text, the C tool and itself."""
import array
import ctypes
import enum
import errno
import json
import mmap
import os
import random
import re
import select
import shutil
import subprocess
import sys
import threading
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
    tool = json.loads(out)
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
        # Python's own allocator may map or unmap an arena between two
        # calls: the map is not stale once it has settled
        for _ in range(20):
            snap.refresh()
            if not snap.stale():
                break
        else:
            pytest.fail("our own map changed between every refresh and check")
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_range_walk_gives_the_vmas_that_overlap_it(backend, sleeper):
    lines = maps_text(sleeper).splitlines(keepends=True)
    spans = [tuple(int(x, 16) for x in l.split()[0].split("-")) for l in lines]
    with vmaquery.open(sleeper, backend=backend) as proc:
        for lo, hi in [(spans[1][0] + 1, spans[3][0]), (spans[2][1], spans[2][1] + 1),
                       (0, spans[0][0] + 1), (spans[-1][0], 2**64 - 1), (1, 2)]:
            want = [l for l, (s, e) in zip(lines, spans) if e > lo and s < hi]
            assert [v.line() for v in proc.vmas(start=lo, end=hi)] == want, (lo, hi)
        with pytest.raises(ValueError):
            proc.vmas(start=5, end=5)
        with pytest.raises(OverflowError):
            proc.vmas(end=2**64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_normalize_gives_objects_and_file_offsets(backend, sleeper):
    lines = maps_text(sleeper).splitlines()
    f = [l.split() for l in lines]
    files = [x for x in f if len(x) > 5 and x[5].startswith("/")]
    anon = [x for x in f if len(x) == 5]
    addrs = [int(x[0].split("-")[0], 16) + 3 for x in files] + \
            [int(x[0].split("-")[0], 16) for x in anon] + [8]
    with vmaquery.open(sleeper, backend=backend) as proc:
        n = proc.normalize(array.array("Q", addrs), build_id=True)
        assert len(n) == len(addrs)
        for i, x in enumerate(files):
            o = n.object(i)
            assert n.reason(i) == "ok" and o.name == x[5] and o.kind == "file"
            assert n.offset(i) == int(x[2], 16) + 3 and o.inode == int(x[4])
        # one object per file, however many VMAs it has
        assert len(n.objects) == len({x[5] for x in files})
        assert all(n.reason(len(files) + i) == "anon" for i in range(len(anon)))
        assert n.reason(len(addrs) - 1) == "unmapped" and n.object(len(addrs) - 1) is None
        # each file's build ID is the one a lookup reads (the program's
        # own file is /usr/bin/sleep on the host, busybox in the VM)
        for i, x in enumerate(files):
            v = proc.lookup([addrs[i]], build_id=True)[0]
            assert n.object(i).build_id == v.build_id, (x[5], n.object(i), v)
        assert any(o.build_id for o in n.objects), n.objects


def test_pids_and_descriptors_past_32_bits_do_not_wrap():
    for pid in (2**32, 2**32 + 1, 2**63, -1):
        with pytest.raises(ValueError):
            vmaquery.open(pid)
    fd = os.open("/proc/self/maps", os.O_RDONLY)
    try:
        for bad in (2**32 + fd, -1):
            with pytest.raises(ValueError):
                vmaquery.open_fd(bad)
            with pytest.raises(ValueError):
                vmaquery.open_pidfd(bad)
    finally:
        os.close(fd)


def test_names_do_not_depend_on_the_locale(tmp_path):
    """A name is UTF-8 with surrogateescape under any locale, as in the CLI."""
    path = tmp_path / "caf\u00e9"
    path.write_bytes(b"x" * 4096)
    code = ("import mmap, os, sys, vmaquery\n"
            "f = open(sys.argv[1], 'rb')\n"
            "m = mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ)\n"
            "with vmaquery.open() as p:\n"
            "    print(ascii([v.name for v in p if v.name and v.name.endswith('\\u00e9')]))\n")
    env = dict(os.environ, LC_ALL="C", PYTHONCOERCECLOCALE="0", PYTHONUTF8="0")
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == ascii([str(path)]), out


def test_open_pidfd_names_that_process(sleeper):
    if not hasattr(os, "pidfd_open"):
        pytest.skip("no os.pidfd_open")
    fd = os.pidfd_open(sleeper)
    try:
        with vmaquery.open_pidfd(fd) as proc:
            assert proc.pid == sleeper
            assert "".join(v.line() for v in proc) == maps_text(sleeper)
        kid = subprocess.Popen(["true"])
        kfd = os.pidfd_open(kid.pid)
        kid.wait()
        with pytest.raises(ProcessLookupError):
            vmaquery.open_pidfd(kfd)
        os.close(kfd)
    finally:
        os.close(fd)


def test_library_not_found_says_where_it_looked(tmp_path):
    code = ("import vmaquery\ntry:\n    vmaquery.kernel_backends()\n"
            "except vmaquery.LibraryNotFound as e:\n    print(e)\n")
    env = dict(os.environ, VMAQUERY_LIBRARY=str(tmp_path / "nope.so"),
               PYTHONPATH=str(TOP / "bindings" / "python"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True).stdout
    assert "nope.so" in out and "VMAQUERY_LIBRARY" in out


# --- issue 18: objects, threads, addresses, flags, lookups, loading ---------

def test_closed_objects_raise_and_children_outlive_their_process(sleeper):
    proc = vmaquery.open(sleeper)
    snap = proc.snapshot()
    walk = proc.vmas()
    want = list(snap)
    proc.close()
    proc.close()			# twice is fine
    for call in (lambda: proc.find(0), lambda: proc.vmas(), lambda: proc.lookup([0]),
                 lambda: proc.snapshot(), lambda: proc.backend, lambda: proc.pid):
        with pytest.raises(ValueError):
            call()
    assert list(walk) == want		# the walk holds the handle
    assert list(snap) == want and not snap.stale()
    snap.close()
    for call in (lambda: len(snap), lambda: list(snap), lambda: snap.find(0),
                 snap.stale, snap.refresh):
        with pytest.raises(ValueError):
            call()
    walk.close()
    assert list(walk) == []		# an ended walk yields nothing more


def test_a_walk_never_started_is_freed():
    # a generator that is never started runs no finally: the C iterator
    # would stay, holding the handle (and its descriptor) for ever
    with vmaquery.open() as proc:
        fds = len(os.listdir("/proc/self/fd"))
        for _ in range(50):
            proc.vmas()
    proc = None
    import gc
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= fds - 1


def test_addresses_outside_64_bits_raise(sleeper):
    with vmaquery.open(sleeper) as proc, proc.snapshot() as snap:
        v = next(iter(proc))
        for bad in (2**64 + v.start, -1, -(2**64) + v.start):
            with pytest.raises(OverflowError):
                proc.find(bad)
            with pytest.raises(OverflowError):
                snap.find(bad)
            with pytest.raises(OverflowError):
                proc.lookup([v.start, bad])
        with pytest.raises(TypeError):
            proc.find(float(v.start))
        assert proc.find(v.start) == v
        assert proc.find(2**64 - 1) is None


def test_flags_are_public_intflags_with_the_headers_values(sleeper):
    assert issubclass(vmaquery.Flag, enum.IntFlag)
    hdr = TOP / "libvmaquery" / "vmaquery.h"
    values = dict(re.findall(r"#define VMAQ_([A-Z_]+)\s+(0x[0-9a-f]+)u", hdr.read_text()))
    for f in vmaquery.Flag:
        assert int(values[f.name], 16) == f.value, f
    with vmaquery.open(sleeper) as proc:
        for v in proc:
            assert isinstance(v.flags, vmaquery.Flag)
            assert (vmaquery.Flag.READ in v.flags) == (v.perms[0] == "r")
            assert (vmaquery.Flag.FILE in v.flags) == v.is_file


class _CallCounter:
    """Stands for the loaded library and counts the calls made through it."""

    def __init__(self, lib):
        self._lib, self.calls = lib, {}

    def __getattr__(self, name):
        fn = getattr(self._lib, name)

        def counted(*a):
            self.calls[name] = self.calls.get(name, 0) + 1
            return fn(*a)
        return counted


def test_bulk_lookup_from_a_buffer_in_one_call(sleeper, monkeypatch):
    with vmaquery.open(sleeper) as proc, proc.snapshot() as snap:
        # one C lookup however many addresses: not one call per address
        counter = _CallCounter(vmaquery._c())
        monkeypatch.setattr(vmaquery, "_c", lambda: counter)
        proc.lookup(array.array("Q", [v.start for v in snap] * 50))
        assert counter.calls.get("vmaq_lookup") == 1, counter.calls
        assert "vmaq_find" not in counter.calls, counter.calls
        assert counter.calls.get("vmaq_lookup_index", 0) <= 1, counter.calls
        monkeypatch.undo()
        vmas = list(snap)
        rng = random.Random(5)
        addrs = array.array("Q")
        for i in range(100000):
            v = vmas[rng.randrange(len(vmas))]
            addrs.append(v.start + rng.randrange(v.size) if i % 7 else rng.randrange(2**64))
        got = proc.lookup(addrs)
        assert len(got) == len(addrs)
        for a, g in zip(addrs, got):
            assert g == snap.find(a), hex(a)
        # one object per record, as the C answer has one record per VMA
        # (the batch ioctl's lookups take 65536 addresses a call, and a
        # VMA two calls meet has a record in each: vmaq_lookup(3))
        assert len({id(g) for g in got if g}) <= len(vmas) + len(addrs) // 65536
        # any buffer of uint64 is read in place, read-only ones too
        assert proc.lookup(memoryview(addrs.tobytes()).cast("Q")) == got
        assert proc.lookup(list(addrs[:1000])) == got[:1000]
        assert proc.lookup(array.array("Q")) == []
        with pytest.raises(TypeError):
            proc.lookup(array.array("I", [1, 2]))


def test_one_process_used_from_several_threads(sleeper):
    # ctypes lets go of the GIL: without the handle's lock, two finds race
    # for the handle's one record in C and come back with each other's VMA
    with vmaquery.open(sleeper) as proc:
        vmas = list(proc)
        errors = []

        def work(k):
            try:
                rng = random.Random(k)
                for _ in range(300):
                    v = vmas[rng.randrange(len(vmas))]
                    a = v.start + rng.randrange(v.size)
                    assert proc.find(a) == v
                    assert proc.lookup([a])[0] == v
                    if rng.randrange(20) == 0:
                        with proc.snapshot() as s:
                            assert s.find(a) == v
                    if rng.randrange(40) == 0:
                        assert list(proc.vmas()) == vmas
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors, errors[0]


def test_errors_carry_the_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    with pytest.raises(ProcessLookupError) as e:
        vmaquery.open(p.pid)
    assert e.value.pid == p.pid and e.value.filename == f"/proc/{p.pid}/maps"
    assert str(p.pid) in str(e.value)
    q = subprocess.Popen(["sleep", "60"])
    time.sleep(0.1)
    proc = vmaquery.open(q.pid)
    q.kill()
    q.wait()
    with pytest.raises(ProcessLookupError) as e:
        list(proc)
    assert e.value.pid == q.pid
    proc.close()


def _run_binding(pkg_parent, code, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("VMAQUERY_LIBRARY", "LD_LIBRARY_PATH")}
    env.update(PYTHONPATH=str(pkg_parent), **env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def _copy_package(dst):
    shutil.copytree(Path(vmaquery.__file__).parent, dst / "vmaquery",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so*"))


REPORT = ("import vmaquery\nv, path = vmaquery.library_version()\n"
          "maps = open('/proc/self/maps').read()\n"
          "print(path)\nprint('PLANTED' if 'planted' in maps else 'clean')\n")


def test_the_library_is_found_only_in_documented_places(tmp_path):
    real = Path(vmaquery.library_version()[1]).resolve()
    # a source tree's layout around the package, with a library planted in
    # it: a world-writable directory above an installed package
    top = tmp_path / "planted"
    (top / "build" / "lib").mkdir(parents=True)
    (top / "libvmaquery").mkdir()
    (top / "libvmaquery" / "vmaquery.h").write_text("")
    shutil.copy(real, top / "build" / "lib" / "libvmaquery.so.1")
    _copy_package(top / "bindings" / "python")
    # nothing else: not found, and the planted copy is not it
    r = _run_binding(top / "bindings" / "python", REPORT)
    assert "LibraryNotFound" in r.stderr and "planted/build" not in r.stderr, r.stderr
    # the system loader's path
    r = _run_binding(top / "bindings" / "python", REPORT, LD_LIBRARY_PATH=str(real.parent))
    assert r.returncode == 0 and r.stdout.split() == ["libvmaquery.so.1", "clean"], r
    # the package's own directory
    pkg = tmp_path / "site"
    _copy_package(pkg)
    shutil.copy(real, pkg / "vmaquery" / "libvmaquery.so.1")
    r = _run_binding(pkg, REPORT.replace("'planted'", "'/planted/'"))
    assert r.returncode == 0 and r.stdout.split()[0] == str(pkg / "vmaquery" / "libvmaquery.so.1"), r
    # $VMAQUERY_LIBRARY, alone
    r = _run_binding(pkg, REPORT.replace("'planted'", "'/planted/'"), VMAQUERY_LIBRARY=str(real))
    assert r.returncode == 0 and r.stdout.split()[0] == str(real), r


FAKE = r"""
#include <stdint.h>
#include <string.h>
#define STUB(n) int n(void) { return -38; }
%s
uint32_t vmaq_version(void) { return VERSION; }
const char *vmaq_version_string(void) { return "fake"; }
int vmaq_format(const void *v, char *buf, unsigned long size)
{
	const char *l = LINE;
	if (size > strlen(l)) strcpy(buf, l);
	return (int)strlen(l);
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler here")
def test_a_library_of_another_version_or_layout_is_refused(tmp_path):
    from vmaquery import _lib
    stubs = "\n".join(f"STUB({n})" for n, _, _ in _lib._PROTOTYPES
                      if n not in ("vmaq_version", "vmaq_version_string", "vmaq_format"))
    good = '"00001000-00003000 r-xp 00020000 12:34 4242   /layout/check\\n"'
    cases = {"v2": ("(2 << 16)", good, "version 2.0.0"),
             "layout": ("(1 << 16)", '"00001000-00003000 r-xp 00000000 00:00 0\\n"',
                        "not laid out"),
             "ok": ("(1 << 16)", good, None)}
    for name, (version, line, why) in cases.items():
        src = tmp_path / f"{name}.c"
        so = tmp_path / f"{name}.so"
        src.write_text(FAKE % stubs)
        subprocess.run(["gcc", "-shared", "-fPIC", f"-DVERSION={version}", f"-DLINE={line}",
                        "-o", str(so), str(src)], check=True)
        r = _run_binding(Path(vmaquery.__file__).parent.parent,
                         "import vmaquery\nprint(vmaquery.library_version())",
                         VMAQUERY_LIBRARY=str(so))
        if why is None:
            assert r.returncode == 0 and "fake" in r.stdout, r
        else:
            assert r.returncode != 0 and "LibraryNotFound" in r.stderr and why in r.stderr, r


@pytest.mark.parametrize("backend", BACKENDS)
def test_scan_gives_every_process_its_own_map(backend, sleeper):
    """The scan's VMAs of a process are its iterator's; a zombie (exited,
    not reaped) is reported with ProcessLookupError, not raised."""
    zombie = os.fork()
    if not zombie:
        os._exit(0)
    try:
        for _ in range(1000):
            with open(f"/proc/{zombie}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.001)
        seen = {s.pid: s for s in vmaquery.scan(backend=backend)}
    finally:
        os.waitpid(zombie, 0)
    with vmaquery.open(sleeper, backend=backend) as proc:
        want = [v.line() for v in proc]
    got = seen[sleeper]
    assert got.error is None and [v.line() for v in got.vmas] == want
    assert seen[os.getpid()].vmas
    assert isinstance(seen[zombie].error, ProcessLookupError) and seen[zombie].vmas is None
    only_x = {s.pid: s for s in vmaquery.scan(filter="x", backend=backend)}
    assert only_x[sleeper].vmas and all(v.flags & vmaquery.Flag.EXEC for v in only_x[sleeper].vmas)


def test_scan_selects_by_uid_and_refuses_bad_filters(sleeper):
    me = os.geteuid()
    pids = {s.pid for s in vmaquery.scan(uid=me)}
    assert sleeper in pids and os.getpid() in pids
    assert all(os.stat(f"/proc/{p}").st_uid == me for p in pids if os.path.exists(f"/proc/{p}"))
    other = 65534 if me != 65534 else 0
    assert sleeper not in {s.pid for s in vmaquery.scan(uid=other)}
    for bad in (-1, 2**32, True, "0"):
        with pytest.raises((ValueError, TypeError)):
            list(vmaquery.scan(uid=bad))
    with pytest.raises(OSError) as e:
        list(vmaquery.scan(cgroup="relative"))
    assert e.value.errno == errno.EINVAL


# A child this test drives over a pipe: maps and unmaps files, execs.
_DRIVEN = r"""
import mmap, os, sys
held = {}
print("ready", flush=True)
for line in sys.stdin:
    op, arg = line.split()
    if op == "map":
        with open(arg, "r+b") as f:
            held[arg] = mmap.mmap(f.fileno(), 2 * mmap.PAGESIZE)
    elif op == "unmap":
        held.pop(arg).close()
    elif op == "exec":
        os.execv(arg, ["sleep", "60"])
    print("done", flush=True)
"""


class Driven:
    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "-c", _DRIVEN], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.pid = self.p.pid
        assert self.p.stdout.readline() == "ready\n"

    def do(self, op, arg):
        self.p.stdin.write(f"{op} {arg}\n")
        self.p.stdin.flush()
        if op != "exec":
            assert self.p.stdout.readline() == "done\n"
            return
        # the new image is mapped once sleep sleeps: its exe and comm
        # change before the exec has mapped anything but the stack
        exe = os.path.realpath(arg)
        for _ in range(5000):
            try:
                comm, rest = self._stat()
            except FileNotFoundError:
                break
            if comm == "sleep" and rest.split()[0] == "S" and \
               os.path.realpath(f"/proc/{self.pid}/exe") == exe:
                return
            time.sleep(0.001)
        pytest.fail(f"the child never exec'd {arg}")

    def _stat(self):
        with open(f"/proc/{self.pid}/stat") as f:
            st = f.read()
        return st[st.index("(") + 1:st.rindex(")")], st[st.rindex(")") + 1:]

    def end(self):
        self.p.kill()
        self.p.wait()


@pytest.fixture
def driven():
    d = Driven()
    yield d
    d.end()


def _file(tmp_path, name):
    f = tmp_path / name
    f.write_bytes(b"\0" * (2 * mmap.PAGESIZE))
    return str(f)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cache_gives_each_process_its_map(backend, sleeper, driven):
    with vmaquery.Cache(backend=backend) as c:
        for pid in (sleeper, driven.pid):
            vmas = c.get(pid)
            assert "".join(v.line() for v in vmas) == maps_text(pid)
            assert c.get(pid) == vmas
            first = vmas[0]
            assert c.find(pid, first.start + 1) == first
            assert c.find(pid, 0) is None
            res = c.lookup(pid, [first.start, 0, first.end - 1, vmas[-1].start])
            assert res == [first, None, first, vmas[-1]] and res[0] is res[2]
        assert len(c) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_cache_reads_a_process_again_after_exec_and_exit(backend, driven):
    python = os.path.realpath(f"/proc/{driven.pid}/exe")
    sleep = os.path.realpath(shutil.which("sleep"))
    with vmaquery.Cache(backend=backend) as c:
        assert python in {v.name for v in c.get(driven.pid)}
        driven.do("exec", shutil.which("sleep"))
        names = {v.name for v in c.get(driven.pid)}	# no event fed: the cache sees it
        assert sleep in names and (python == sleep or python not in names)
        driven.end()
        with pytest.raises(ProcessLookupError) as e:
            c.get(driven.pid)
        assert e.value.pid == driven.pid and e.value.filename == f"/proc/{driven.pid}/maps"
        assert len(c) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_cache_change_events_and_refresh(backend, driven, sleeper, tmp_path):
    f = _file(tmp_path, "mapped-later")
    with vmaquery.Cache(backend=backend) as c:
        assert f not in {v.name for v in c.get(driven.pid)}
        c.get(sleeper)
        driven.do("map", f)
        seen = f in {v.name for v in c.get(driven.pid)}
        # the generation shows a hit that it changed; without it, as
        # documented, a hit is as of the last read until told
        assert seen == (backend == "batch")
        assert c.feed([vmaquery.Event("change", driven.pid)]) == 0
        v = next(v for v in c.get(driven.pid) if v.name == f)
        assert v.size == 2 * mmap.PAGESIZE and v.perms == "rw-s"
        assert c.find(driven.pid, v.start) == v
        driven.do("unmap", f)
        assert c.refresh(driven.pid)
        assert not c.refresh(driven.pid)
        assert c.find(driven.pid, v.start) != v
        assert f not in {v.name for v in c.get(driven.pid)}
        driven.end()
        assert c.feed([("lost", 0)]) == 1	# every entry checked: the dead one goes
        assert len(c) == 1
        assert c.feed([("exit", sleeper)]) == 1 and len(c) == 0


def test_cache_refuses_bad_input(sleeper):
    gone = subprocess.Popen(["true"])
    gone.wait()
    for bad in (-1, 2**32, True, "1"):
        with pytest.raises((ValueError, TypeError)):
            vmaquery.Cache(max_procs=bad)
    with pytest.raises(ValueError):
        vmaquery.Cache(backend="mine")
    c = vmaquery.Cache()
    for bad, exc in ((0, ValueError), (-1, ValueError), (2**31, ValueError), ("1", TypeError),
                     (True, TypeError)):
        with pytest.raises(exc):
            c.get(bad)
    with pytest.raises(ValueError):
        c.feed([("bogus", sleeper)])
    with pytest.raises(ValueError):
        c.feed([("exit", 0)])
    with pytest.raises(OverflowError):
        c.find(sleeper, 2**64)
    with pytest.raises(ProcessLookupError):
        c.get(gone.pid)
    assert c.get(sleeper) and len(c) == 1
    c.close()
    c.close()
    with pytest.raises(ValueError):
        c.get(sleeper)
    with pytest.raises(ValueError):
        len(c)


def test_one_cache_used_from_several_threads(sleeper):
    with vmaquery.Cache() as c:
        want = c.get(sleeper)
        errors = []

        def look():
            try:
                for i in range(300):
                    v = want[i % len(want)]
                    assert c.find(sleeper, v.start) == v
                    if i % 50 == 0:
                        c.feed([("change", sleeper)])
                        assert c.get(sleeper) == want
            except BaseException as e:		# noqa: B902
                errors.append(e)

        threads = [threading.Thread(target=look) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors


def test_snapshot_update_says_what_changed(tmp_path, sleeper):
    pg = mmap.PAGESIZE
    f = _file(tmp_path, "changes")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with vmaquery.open() as proc, proc.snapshot() as snap:
        for _ in range(20):
            snap.refresh()
            if not snap.stale():
                break

        def ours(changes):
            assert [c.vma.start for c in changes] == sorted(c.vma.start for c in changes)
            assert all(c.kind in ("added", "removed", "modified") for c in changes)
            return [c for c in changes if c.vma.name == f]

        with open(f, "r+b") as fh:
            m = mmap.mmap(fh.fileno(), 2 * pg)
        [added] = ours(snap.update())
        assert added.kind == "added" and added.was is None and added.vma.perms == "rw-s"
        assert snap.find(added.vma.start) == added.vma
        assert libc.mprotect(added.vma.start, 2 * pg, mmap.PROT_READ) == 0
        [mod] = ours(snap.update())
        assert mod.kind == "modified" and mod.vma.start == added.vma.start
        assert (mod.was.perms, mod.vma.perms) == ("rw-s", "r--s")
        m.close()
        [gone] = ours(snap.update())
        assert gone.kind == "removed" and gone.vma == mod.vma and gone.was is None
        assert snap.find(added.vma.start) != mod.vma
    with vmaquery.open(sleeper) as proc, proc.snapshot() as snap:
        assert snap.update() == []


def test_events_tell_exec_and_exit_and_feed_a_cache(driven):
    with vmaquery.Events() as ev, vmaquery.Cache() as c:
        c.get(driven.pid)
        driven.do("exec", shutil.which("sleep"))
        driven.end()
        got = []
        deadline = time.monotonic() + 10
        while ("exit", driven.pid) not in got and time.monotonic() < deadline:
            select.select([ev.fileno()], [], [], 0.5)
            got += ev.read()
        ours = [e.kind for e in got if e.pid == driven.pid]
        assert ours == ["exec", "exit"]	# it had exec'd python before we listened
        assert all(isinstance(e, vmaquery.Event) for e in got)
        assert all(e.kind in ("exec", "exit", "lost") for e in got)
        assert c.feed(got) == 1 and len(c) == 0
        assert ev.read() == [] or all(e.pid != driven.pid for e in ev.read())
        with pytest.raises(ValueError):
            ev.read(0)
    with pytest.raises(ValueError):
        ev.fileno()
