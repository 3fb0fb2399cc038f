# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmaquery: structured queries of a process's memory map, on libvmaquery.

    with vmaquery.open(pid) as proc:
        vma = proc.find(addr)                  # or None
        for vma in proc:                       # every VMA, with names
            ...
        for vma in proc.lookup(addrs, build_id=True):   # one batched call
            ...

Errors are OSError subclasses carrying the C library's errno, with the
process's maps file as their filename and its pid as .pid:
ProcessLookupError (no such process, exited, exec'd, kernel thread),
PermissionError, ... A closed object raises ValueError; an address outside
0 .. 2**64 - 1 raises OverflowError.

Objects keep what they use alive: a Snapshot or an iteration goes on after
its Process is closed. One Process and everything made from it may be used
from several threads: their calls into the library take the Process's lock
(ctypes lets go of the GIL during a call).

libvmaquery is loaded from $VMAQUERY_LIBRARY if it is set, else from this
package's own directory, else by its soname (libvmaquery.so.1) through the
system's dynamic loader; nowhere else. It must be version 1.x and lay out
its records as this package declares them. vmaquery.LibraryNotFound says
where it looked and why each place failed.
"""
from __future__ import annotations

import array
import errno as _errno
import ctypes
import enum
import operator
import os
import struct
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from . import _lib
from ._lib import LibraryNotFound

__all__ = ["open", "open_fd", "open_pidfd", "kernel_backends", "library_version", "Process",
           "Snapshot", "Vma", "Flag", "LibraryNotFound", "Normalized", "Object", "scan",
           "Scanned", "Change", "Cache", "Event", "Events"]
__version__ = "1.0.0"


class Flag(enum.IntFlag):
    """Vma.flags, and the C library's flags (vmaquery.h) by name."""
    READ = _lib.READ
    WRITE = _lib.WRITE
    EXEC = _lib.EXEC
    SHARED = _lib.SHARED
    FILE = _lib.FILE
    ANON = _lib.ANON
    DELETED = _lib.DELETED
    NEXT = _lib.NEXT
    NAME = _lib.NAME
    BUILD_ID = _lib.BUILD_ID


_C: Optional[ctypes.CDLL] = None
_C_PATH: Optional[str] = None
_load_lock = threading.Lock()


def _c() -> ctypes.CDLL:
    global _C, _C_PATH
    if _C is None:
        with _load_lock:
            if _C is None:
                _C, _C_PATH = _lib.load()
    return _C


def library_version() -> Tuple[str, str]:
    """The library's version string and the file it was loaded from."""
    return _c().vmaq_version_string().decode(), str(_C_PATH)


def _error(ret: int, pid: Optional[int]) -> OSError:
    err = -ret
    where = f"/proc/{pid}/maps" if pid is not None else None
    e = OSError(err, os.strerror(err), where) if where else OSError(err, os.strerror(err))
    e.pid = pid
    return e


def _check(ret: int, pid: Optional[int] = None) -> int:
    if ret < 0:
        raise _error(ret, pid)
    return ret


_U64 = 1 << 64
# Flag(x) per record costs more than the rest of a record: one per value
_FLAGS: dict = {}


def _addr(a: Any) -> int:
    a = operator.index(a)
    if not 0 <= a < _U64:
        raise OverflowError(f"address {a:#x} is outside 0 .. 2**64 - 1")
    return a


def _decode(raw: bytes) -> str:
    # Paths are bytes: UTF-8, each byte that is not as U+DC00 + byte
    # (surrogateescape), whatever the locale, exactly as the CLI's JSON.
    return raw.decode("utf-8", "surrogateescape")


def _name(raw: Optional[bytes]) -> Optional[str]:
    return None if raw is None else _decode(raw)


@dataclass(frozen=True)
class Vma:
    """One VMA, as a line of /proc/PID/maps describes it."""
    start: int
    end: int
    offset: int
    dev: Tuple[int, int]
    inode: int
    flags: Flag
    page_size: int
    name: Optional[str]
    build_id: Optional[bytes]
    # "file", "anon", "heap", "stack", "vdso", "vvar", "gate", "special";
    # "unknown" when names were not asked for
    kind: str = "unknown"

    @property
    def is_deleted(self) -> bool:
        """The mapped file has been unlinked (known when names are asked for)."""
        return bool(self.flags & _lib.DELETED)

    @property
    def perms(self) -> str:
        """The four permission characters of the text, e.g. 'r-xp'."""
        f = self.flags
        return ("r" if f & _lib.READ else "-") + ("w" if f & _lib.WRITE else "-") + \
               ("x" if f & _lib.EXEC else "-") + ("s" if f & _lib.SHARED else "p")

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def is_file(self) -> bool:
        return bool(self.flags & _lib.FILE)

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end

    def file_offset(self, addr: int) -> int:
        """The offset in the mapped file that addr corresponds to."""
        return addr - self.start + self.offset

    def line(self) -> str:
        """The line /proc/PID/maps shows for this VMA (vmaq_format)."""
        raw = _to_c(self)
        n = _c().vmaq_format(ctypes.byref(raw), None, 0)
        buf = ctypes.create_string_buffer(n + 1)
        _c().vmaq_format(ctypes.byref(raw), buf, n + 1)
        return _decode(buf.raw[:n])

    @classmethod
    def _from_c(cls, p) -> "Vma":
        v = p.contents
        bid = bytes(v.build_id[:v.build_id_size]) if v.build_id_size else None
        kind = _lib.KINDS[v.kind] if v.kind < len(_lib.KINDS) else "special"
        f = _FLAGS.get(v.flags)
        if f is None:
            f = _FLAGS.setdefault(v.flags, Flag(v.flags))
        return cls(v.start, v.end, v.offset, (v.dev_major, v.dev_minor), v.inode,
                   f, v.page_size, _name(v.name), bid, kind)


def _to_c(v: Vma) -> _lib.Vma:
    raw = _lib.Vma()
    raw.size = ctypes.sizeof(_lib.Vma)
    raw.start, raw.end, raw.offset, raw.inode = v.start, v.end, v.offset, v.inode
    raw.dev_major, raw.dev_minor = v.dev
    raw.flags, raw.page_size = v.flags, v.page_size
    raw.name = v.name.encode("utf-8", "surrogateescape") if v.name is not None else None
    return raw


def _flags(filter: str = "", names: bool = True, build_id: bool = False) -> int:
    f = (_lib.NAME if names else 0) | (_lib.BUILD_ID if build_id else 0)
    bits = {"r": _lib.READ, "w": _lib.WRITE, "x": _lib.EXEC, "s": _lib.SHARED,
            "file": _lib.FILE, "anon": _lib.ANON}
    for part in filter.replace(",", " ").split():
        if part not in bits:
            raise ValueError(f"unknown filter {part!r} (r, w, x, s, file, anon)")
        f |= bits[part]
    return f


def _opts(backend: Optional[str]) -> _lib.OpenOpts:
    if backend is not None and backend not in _lib.BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (batch, query, text, auto)")
    return _lib.OpenOpts(ctypes.sizeof(_lib.OpenOpts), _lib.BACKENDS[backend or "auto"], 0)


def _u64_array(addrs: Any) -> Tuple[Any, int]:
    """addrs as a C uint64_t array without a copy where it already is one
    (array('Q'), a memoryview or any buffer of 8-byte unsigned items), else
    converted from an iterable of ints (each checked: 0 .. 2**64 - 1)."""
    try:
        mv = memoryview(addrs)
    except TypeError:
        mv = None
    if mv is not None:
        if mv.itemsize != 8 or mv.format not in ("Q", "L", "<Q", "=Q", "@Q"):
            raise TypeError(f"a buffer of addresses holds uint64 items (format 'Q'), "
                            f"not {mv.format!r}")
        mv = mv.cast("B").cast("Q")
        n = len(mv)
        if not n:
            return None, 0
        if mv.readonly:
            return (ctypes.c_uint64 * n).from_buffer_copy(mv), n
        return (ctypes.c_uint64 * n).from_buffer(mv), n
    try:
        arr = array.array("Q", addrs)
    except OverflowError:
        raise OverflowError("an address is outside 0 .. 2**64 - 1") from None
    n = len(arr)
    return ((ctypes.c_uint64 * n).from_buffer(arr), n) if n else (None, 0)


class _Closing:
    """A context manager whose close() also runs when it is collected; a
    C handle _h, taken under _lock, named _what in errors."""
    _h: Any = None
    _what = "object"
    _lock: Any

    def close(self) -> None:
        raise NotImplementedError

    def _handle(self) -> ctypes.c_void_p:
        if not self._h:
            raise ValueError(f"the {self._what} is closed")
        return self._h

    def _release(self, free: str) -> None:
        """close() of a handle the C function named free lets go of."""
        with self._lock:
            if self._h:
                getattr(_c(), free)(self._h)
                self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_h", None):
            self.close()


class Process(_Closing):
    """A process's address space: the one it had when opened.

    After the process exits or execs, every query raises ProcessLookupError.
    Use as a context manager, or call close(); a closed Process raises
    ValueError. Thread-safe: its calls, and those of its snapshots and
    iterations, take its lock.
    """

    _what = "process handle"

    def __init__(self, handle: ctypes.c_void_p, pid: Optional[int] = None):
        self._h = handle
        self._lock = threading.RLock()
        self._pid = pid

    def close(self) -> None:
        """Let go of the handle; snapshots and iterations made from it keep
        what they need of it until they end."""
        self._release("vmaq_close")

    def _check(self, ret: int) -> int:
        return _check(ret, self._pid)

    @property
    def backend(self) -> str:
        """The backend in use: 'batch', 'query' or 'text'."""
        with self._lock:
            return _c().vmaq_backend_name(_c().vmaq_backend(self._handle())).decode()

    @property
    def generation(self) -> int:
        """The address-space generation: unchanged means no VMA changed.

        Once a change to the process's VMAs has returned, this never again
        gives a value it gave before the change began. One system call.
        Needs the batch backend (the vmaquery kernel series); otherwise
        raises OSError(EOPNOTSUPP).
        """
        gen = ctypes.c_uint64()
        with self._lock:
            self._check(_c().vmaq_generation(self._handle(), ctypes.byref(gen)))
        return gen.value

    @property
    def pid(self) -> Optional[int]:
        """The pid it was opened by (None for open_fd())."""
        with self._lock:
            pid = _c().vmaq_pid(self._handle())
        return None if pid < 0 else pid

    def find(self, addr: int, *, next: bool = False, filter: str = "",
             build_id: bool = False) -> Optional[Vma]:
        """The VMA covering addr (or, with next=True, the first after it)."""
        a = _addr(addr)
        p = ctypes.POINTER(_lib.Vma)()
        flags = _flags(filter, True, build_id) | (_lib.NEXT if next else 0)
        with self._lock:
            ret = _c().vmaq_find(self._handle(), a, flags, ctypes.byref(p))
            if ret == -_errno.ENOENT:	# nothing there
                return None
            self._check(ret)
            return Vma._from_c(p)

    def vmas(self, *, filter: str = "", names: bool = True,
             build_id: bool = False, start: int = 0,
             end: Optional[int] = None) -> "Walk":
        """Every VMA matching filter ('r', 'w', 'x', 's', 'file', 'anon'),
        read as the iteration goes (see Walk); with start and end, only
        those that overlap [start, end), each whole."""
        flags = _flags(filter, names, build_id)
        lo = _addr(start)
        hi = 2**64 - 1 if end is None else _addr(end)
        if lo >= hi:
            raise ValueError(f"empty range [{lo:#x}, {hi:#x})")
        it = ctypes.c_void_p()
        with self._lock:
            self._check(_c().vmaq_iter_range(self._handle(), flags, lo, hi, ctypes.byref(it)))
        return Walk(self, it)

    def __iter__(self) -> Iterator[Vma]:
        return self.vmas()

    def lookup(self, addrs: Iterable[int], *, filter: str = "",
               build_id: bool = False) -> List[Optional[Vma]]:
        """The VMA of each address (None if unmapped), in one C call.

        addrs: any iterable of ints, or a buffer of uint64 (array('Q'),
        a memoryview, numpy's uint64 arrays), which is read in place.
        Addresses in one VMA share one Vma object."""
        arr, n = _u64_array(addrs)
        flags = _flags(filter, True, build_id)
        res = ctypes.c_void_p()
        with self._lock:
            self._check(_c().vmaq_lookup(self._handle(), arr, n, flags, ctypes.byref(res)))
            try:
                nrec = _c().vmaq_lookup_records(res)
                recs = [Vma._from_c(_c().vmaq_lookup_record(res, i)) for i in range(nrec)]
                idx = array.array("I", bytes(4 * n))
                if n:
                    buf = (ctypes.c_uint32 * n).from_buffer(idx)
                    self._check(_c().vmaq_lookup_index(res, 0, n, buf))
            finally:
                _c().vmaq_lookup_free(res)
        return [recs[i] if i < nrec else None for i in idx]

    def normalize(self, addrs: Iterable[int], *,
                  build_id: bool = False) -> "Normalized":
        """Each address as (object, offset) for a symbolizer, in one C call:
        objects are deduplicated per mapped file (and kernel mapping);
        see Normalized. addrs as for lookup()."""
        arr, n = _u64_array(addrs)
        res = ctypes.c_void_p()
        with self._lock:
            self._check(_c().vmaq_normalize(self._handle(), arr, n,
                                            _lib.BUILD_ID if build_id else 0,
                                            ctypes.byref(res)))
            try:
                objs = []
                for i in range(_c().vmaq_norm_objects(res)):
                    o = _c().vmaq_norm_object(res, i).contents
                    objs.append(Object(
                        _decode(ctypes.string_at(o.name, o.name_len)),
                        _lib.KINDS[o.kind] if o.kind < len(_lib.KINDS) else "special", o.inode,
                        (o.dev_major, o.dev_minor), bool(o.flags & _lib.DELETED),
                        ctypes.string_at(o.build_id, o.build_id_size)
                        if o.build_id_size else None))
                na = _c().vmaq_norm_addrs(res)
                raw = ctypes.string_at(na, n * ctypes.sizeof(_lib.NormAddr)) if n else b""
            finally:
                _c().vmaq_norm_free(res)
        return Normalized(objs, raw)

    def snapshot(self, *, filter: str = "", build_id: bool = False) -> "Snapshot":
        """The whole map in memory; see Snapshot."""
        flags = _flags(filter, True, build_id)
        s = ctypes.c_void_p()
        with self._lock:
            self._check(_c().vmaq_snapshot_new(self._handle(), flags, ctypes.byref(s)))
        return Snapshot(self, s)


class Object(NamedTuple):
    """A normalized address's object: a mapped file, or a kernel mapping."""
    name: str
    kind: str		# 'file', 'vdso', 'vvar', 'gate', 'special'
    inode: int
    dev: Tuple[int, int]
    deleted: bool
    build_id: Optional[bytes]


class Normalized:
    """Process.normalize()'s answer: .objects, and per address (in the
    order given) .object(i) (an Object, or None), .offset(i) (into the
    object: its file offset, or from a kernel mapping's start) and
    .reason(i) ('ok', 'unmapped', 'anon'). Iterating gives
    (object, offset, reason) tuples."""

    _REASONS = ("ok", "unmapped", "anon")

    def __init__(self, objects: List[Object], raw: bytes):
        self.objects = objects
        self._a = memoryview(raw).cast("B")
        self._n = len(raw) // 16

    def __len__(self) -> int:
        return self._n

    def _at(self, i: int) -> Tuple[int, int, int]:
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return struct.unpack_from("=QII", self._a, 16 * (i % self._n))

    def object(self, i: int) -> Optional[Object]:
        o = self._at(i)[1]
        return None if o == 0xFFFFFFFF else self.objects[o]

    def offset(self, i: int) -> int:
        return self._at(i)[0]

    def reason(self, i: int) -> str:
        r = self._at(i)[2]
        return self._REASONS[r] if r < len(self._REASONS) else f"reason {r}"

    def __iter__(self) -> Iterator[Tuple[Optional[Object], int, str]]:
        for i in range(self._n):
            yield self.object(i), self.offset(i), self.reason(i)


class Walk(_Closing):
    """An iteration over a process's VMAs (Process.vmas()). It holds the
    process's handle: it goes on after Process.close(). close() ends it
    early; it ends by itself at the last VMA or on an error."""

    def __init__(self, proc: Process, handle: ctypes.c_void_p):
        self._proc = proc
        self._lock = proc._lock
        self._h = handle
        self._p = ctypes.POINTER(_lib.Vma)()

    def __iter__(self) -> "Walk":
        return self

    def __next__(self) -> Vma:
        with self._lock:
            if not self._h:
                raise StopIteration
            try:
                more = self._proc._check(_c().vmaq_iter_next(self._h, ctypes.byref(self._p)))
            except OSError:
                self._free()
                raise
            if not more:
                self._free()
                raise StopIteration
            return Vma._from_c(self._p)

    def _free(self) -> None:
        if self._h:
            _c().vmaq_iter_free(self._h)
            self._h = None

    def close(self) -> None:
        with self._lock:
            self._free()


class Snapshot(_Closing):
    """A copy of a process's map answering lookups without system calls.

    refresh() re-reads the map only if it changed (stale() tells); on a
    process that exited it raises and keeps its contents. It goes on after
    its Process is closed; once closed itself, it raises ValueError.
    """

    _what = "snapshot"

    def __init__(self, proc: Process, handle: ctypes.c_void_p):
        self._proc = proc	# its lock and pid; the C snapshot holds the handle
        self._lock = proc._lock
        self._h = handle

    def close(self) -> None:
        self._release("vmaq_snapshot_free")

    def __len__(self) -> int:
        with self._lock:
            return _c().vmaq_snapshot_count(self._handle())

    def __iter__(self) -> Iterator[Vma]:
        with self._lock:
            h = self._handle()
            vmas = [Vma._from_c(_c().vmaq_snapshot_vma(h, i))
                    for i in range(_c().vmaq_snapshot_count(h))]
        return iter(vmas)

    def find(self, addr: int) -> Optional[Vma]:
        a = _addr(addr)
        with self._lock:
            p = _c().vmaq_snapshot_find(self._handle(), a)
            return Vma._from_c(p) if p else None

    def stale(self) -> bool:
        with self._lock:
            return bool(self._proc._check(_c().vmaq_snapshot_stale(self._handle())))

    def refresh(self) -> bool:
        """Bring the snapshot up to date; True if it changed."""
        with self._lock:
            return bool(self._proc._check(_c().vmaq_snapshot_refresh(self._handle())))

    def update(self) -> List["Change"]:
        """refresh() that says what changed: the changes in address order,
        [] if nothing did. A VMA is known by its start: one that moved is
        one removed and one added; one whose start stayed and whose
        record changed (size, permissions, name...) is modified."""
        d = ctypes.c_void_p()
        with self._lock:
            if not self._proc._check(_c().vmaq_snapshot_update(self._handle(), ctypes.byref(d))):
                return []
            try:
                out = []
                for i in range(_c().vmaq_diff_count(d)):
                    c = _c().vmaq_diff_change(d, i).contents
                    out.append(Change(_lib.CHANGES[c.kind], Vma._from_c(c.vma),
                                      Vma._from_c(c.was) if c.was else None))
            finally:
                _c().vmaq_diff_free(d)
        return out


class Change(NamedTuple):
    """One change of Snapshot.update(): kind 'added' (vma is new),
    'removed' (vma is gone) or 'modified' (vma, with the same start, was
    was)."""
    kind: str
    vma: Vma
    was: Optional[Vma]


class Event(NamedTuple):
    """A process event: kind 'exec' or 'exit' (from Events), 'lost' (pid
    0: events were lost, any process may have changed), or 'change' (the
    caller's own: pid's map changed)."""
    kind: str
    pid: int


def _check_pid(pid: Any, zero: bool) -> int:
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise TypeError("pid must be an int")
    # C's pid_t is 32 bits: a larger int would wrap to another process
    if not (0 if zero else 1) <= pid <= 2**31 - 1:
        raise ValueError("pid must be 0 (this process) or a process's pid" if zero
                         else f"{pid} is no process id")
    return pid


class Events(_Closing):
    """Exec and exit of every process of the system, from the kernel's
    process-events connector (vmaq_events_new(3)): the kernel builds
    them for the whole host while one listens, so open it only to follow
    processes, and close it. Poll fileno() for reading (select, selectors,
    asyncio's add_reader); read() gives what is queued without waiting.
    Before Linux 6.6 it needs CAP_NET_ADMIN; where there is no connector,
    or not in the initial namespaces, it raises OSError(EOPNOTSUPP)."""

    _what = "events object"

    def __init__(self):
        o = _lib.EventsOpts(ctypes.sizeof(_lib.EventsOpts), 0, 0)
        h = ctypes.c_void_p()
        self._lock = threading.Lock()
        _check(_c().vmaq_events_new(ctypes.byref(o), ctypes.byref(h)))
        self._h = h

    def fileno(self) -> int:
        """The descriptor to poll; the object's: do not close it."""
        with self._lock:
            return _check(_c().vmaq_events_fd(self._handle()))

    def read(self, max: int = 256) -> List[Event]:  # noqa: A002
        """What is queued, up to max events; [] if nothing is."""
        if not isinstance(max, int) or isinstance(max, bool) or max < 1:
            raise ValueError("max is a positive int")
        max = min(max, 65536)
        buf = (_lib.Event * max)()
        with self._lock:
            n = _check(_c().vmaq_events_read(self._handle(), buf, max))
        return [Event(_lib.EVENTS[e.kind] if e.kind < len(_lib.EVENTS) else f"kind {e.kind}",
                      e.pid) for e in buf[:n]]

    def close(self) -> None:
        """Stop listening (the kernel is told)."""
        self._release("vmaq_events_free")


_EVENT_KINDS = {k: i for i, k in enumerate(_lib.EVENTS) if k}


class Cache(_Closing):
    """Maps of many processes, kept (vmaq_cache_new(3)): a lookup that
    hits costs one system call when nothing changed. An entry stands for
    one address space: a reused pid or an exec is read anew, never
    answered with the old map; a thread id gives its process's map.

    How fresh a hit is depends on the kernel: with the batch backend a
    hit is never older than the call; otherwise exit and exec are seen at
    once but changes within a process (mmap, munmap) only once the caller
    feeds in a 'change' Event or calls refresh(). Each entry holds one
    descriptor; max_procs (0: half of RLIMIT_NOFILE, at most 1024) bounds
    them, least recently used first out. Thread-safe (one lock)."""

    _what = "cache"

    def __init__(self, *, names: bool = True, build_id: bool = False, max_procs: int = 0,
                 backend: Optional[str] = None):
        if not isinstance(max_procs, int) or isinstance(max_procs, bool) or \
           not 0 <= max_procs <= 2**32 - 1:
            raise ValueError(f"{max_procs!r} is no count of processes")
        o = _lib.CacheOpts()
        o.sz = ctypes.sizeof(o)
        o.backend = _opts(backend).backend
        o.flags = _flags("", names, build_id)
        o.max_procs = max_procs
        h = ctypes.c_void_p()
        self._lock = threading.Lock()
        _check(_c().vmaq_cache_new(ctypes.byref(o), ctypes.byref(h)))
        self._h = h

    def close(self) -> None:
        """Drop every entry and its descriptor."""
        self._release("vmaq_cache_free")

    def _snap(self, pid: int) -> ctypes.c_void_p:
        # the caller holds the lock: the snapshot is valid until the next call
        s = ctypes.c_void_p()
        _check(_c().vmaq_cache_get(self._handle(), pid, ctypes.byref(s)), pid)
        return s

    def get(self, pid: int) -> Tuple[Vma, ...]:
        """Process pid's VMAs (a copy: the whole map; find() and lookup()
        copy only what they answer with)."""
        _check_pid(pid, False)
        with self._lock:
            s = self._snap(pid)
            return tuple(Vma._from_c(_c().vmaq_snapshot_vma(s, i))
                         for i in range(_c().vmaq_snapshot_count(s)))

    def find(self, pid: int, addr: int) -> Optional[Vma]:
        """The VMA of process pid covering addr, or None."""
        _check_pid(pid, False)
        a = _addr(addr)
        with self._lock:
            p = _c().vmaq_snapshot_find(self._snap(pid), a)
            return Vma._from_c(p) if p else None

    def lookup(self, pid: int, addrs: Iterable[int]) -> List[Optional[Vma]]:
        """The VMA of each address (None if unmapped), from one lookup of
        the process; addresses in one VMA share one Vma object."""
        _check_pid(pid, False)
        want = [_addr(a) for a in addrs]
        seen: dict = {}
        out: List[Optional[Vma]] = []
        with self._lock:
            s = self._snap(pid)
            for a in want:
                p = _c().vmaq_snapshot_find(s, a)
                if not p:
                    out.append(None)
                    continue
                key = ctypes.addressof(p.contents)
                v = seen.get(key)
                if v is None:
                    v = seen[key] = Vma._from_c(p)
                out.append(v)
        return out

    def refresh(self, pid: int) -> bool:
        """Read process pid's map again if it changed: True if it did."""
        _check_pid(pid, False)
        with self._lock:
            return bool(_check(_c().vmaq_cache_refresh(self._handle(), pid), pid))

    def feed(self, events: Iterable[Any]) -> int:
        """Tell the cache what happened: Events' events, or the caller's own
        as Event('change', pid) or (kind, pid) pairs. 'exec' and 'exit'
        drop the entry, 'change' has the next lookup read the map again,
        'lost' checks every entry. Returns how many entries were dropped."""
        evs = []
        for e in events:
            kind, pid = e
            if kind not in _EVENT_KINDS:
                raise ValueError(f"unknown event kind {kind!r} "
                                 f"({', '.join(_EVENT_KINDS)})")
            evs.append((_EVENT_KINDS[kind], 0 if kind == "lost" else _check_pid(pid, False)))
        buf = (_lib.Event * max(len(evs), 1))(*evs)
        with self._lock:
            return _check(_c().vmaq_cache_feed(self._handle(), buf, len(evs)))

    def revalidate(self) -> int:
        """Check every entry now, dropping those whose process went: how many."""
        with self._lock:
            return _check(_c().vmaq_cache_revalidate(self._handle()))

    def __len__(self) -> int:
        with self._lock:
            return _c().vmaq_cache_count(self._handle())


def _check_fd(fd: Any) -> None:
    if not isinstance(fd, int) or isinstance(fd, bool):
        raise TypeError("a descriptor is an int")
    # C's int is 32 bits: a larger one would wrap to another descriptor
    if not 0 <= fd <= 2**31 - 1:
        raise ValueError(f"{fd} is no descriptor")


def open(pid: int = 0, *, backend: Optional[str] = None) -> Process:  # noqa: A001
    """Open process pid's map (0: this process). backend: 'batch', 'query',
    'text' or None for the best available (or $VMAQ_BACKEND)."""
    _check_pid(pid, True)
    h = ctypes.c_void_p()
    _check(_c().vmaq_open(pid, ctypes.byref(_opts(backend)), ctypes.byref(h)),
           pid if pid else os.getpid())
    return Process(h, pid if pid else os.getpid())


def open_fd(fd: int, *, backend: Optional[str] = None) -> Process:
    """Open from a /proc/PID/maps descriptor (the library keeps a duplicate)."""
    _check_fd(fd)
    h = ctypes.c_void_p()
    _check(_c().vmaq_open_fd(fd, ctypes.byref(_opts(backend)), ctypes.byref(h)))
    return Process(h)


def open_pidfd(pidfd: int, *, backend: Optional[str] = None) -> Process:
    """Open the process a pidfd names (os.pidfd_open()): that very process,
    even if its pid was reused (ProcessLookupError once it is reaped).
    The caller keeps pidfd."""
    _check_fd(pidfd)
    h = ctypes.c_void_p()
    _check(_c().vmaq_open_pidfd(pidfd, ctypes.byref(_opts(backend)), ctypes.byref(h)))
    return Process(h, _c().vmaq_pid(h))


class Scanned(NamedTuple):
    """One process of scan(): its VMAs, or (vmas None) the OSError that
    kept them from being read: ProcessLookupError when it exited or
    exec'd during the scan, PermissionError when it is not ours,
    BlockingIOError (EAGAIN) when its map kept changing under the walk
    (open() it to walk again)."""
    pid: int
    vmas: Optional[List[Vma]]
    error: Optional[OSError]


def scan(*, filter: str = "", names: bool = True, build_id: bool = False,
         uid: Optional[int] = None, cgroup: Optional[str] = None,
         backend: Optional[str] = None) -> Iterator[Scanned]:
    """Every process of the system (kernel threads left out) with its VMAs
    matching filter, one Scanned each, in /proc's order; with uid, only
    those of that effective user, with cgroup (a cgroup v2 path such as
    '/system.slice'), only those in it or below it. A process that goes
    is reported in its Scanned, never raised; OSError only if /proc
    cannot be read. Each process's map is read in one C loop."""
    o = _lib.ScanOpts()
    o.sz = ctypes.sizeof(o)
    o.backend = _opts(backend).backend
    o.flags = _flags(filter, names, build_id)
    if uid is not None:
        if not isinstance(uid, int) or isinstance(uid, bool) or not 0 <= uid < 2**32 - 1:
            raise ValueError(f"{uid!r} is no user id")
        o.scan_flags |= _lib.SCAN_UID
        o.uid = uid
    if cgroup is not None:
        o.cgroup = os.fsencode(cgroup)
    h = ctypes.c_void_p()
    _check(_c().vmaq_scan_new(ctypes.byref(o), ctypes.byref(h)))
    pid = ctypes.c_int()
    v = ctypes.POINTER(_lib.Vma)()
    try:
        while _check(_c().vmaq_scan_next(h, ctypes.byref(pid))):
            vmas: List[Vma] = []
            while True:
                r = _c().vmaq_scan_vma(h, ctypes.byref(v))
                if r <= 0:
                    break
                vmas.append(Vma._from_c(v))
            if r < 0:
                yield Scanned(pid.value, None, _error(r, pid.value))
            else:
                yield Scanned(pid.value, vmas, None)
    finally:
        _c().vmaq_scan_free(h)


def kernel_backends() -> List[str]:
    """The backends the running kernel offers, best first."""
    mask = ctypes.c_uint()
    _check(_c().vmaq_kernel_backends(ctypes.byref(mask)))
    return [n for n in ("batch", "query", "text") if mask.value & (1 << _lib.BACKENDS[n])]
