# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmaquery: structured queries of a process's memory map, on libvmaquery.

    with vmaquery.open(pid) as proc:
        vma = proc.find(addr)                  # or None
        for vma in proc:                       # every VMA, with names
            ...
        for vma in proc.lookup(addrs, build_id=True):   # one batched call
            ...

Errors are OSError subclasses carrying the C library's errno:
ProcessLookupError (no such process, exited, exec'd, kernel thread),
PermissionError, ...

libvmaquery is loaded from $VMAQUERY_LIBRARY, else from the build folder of
the vmaquery source tree this package lives in, else as the installed
libvmaquery.so.1. vmaquery.LibraryNotFound says where it looked.
"""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

from . import _lib
from ._lib import LibraryNotFound

__all__ = ["open", "open_fd", "kernel_backends", "Process", "Snapshot", "Vma",
           "LibraryNotFound"]
__version__ = "0.2.0"

_C: Optional[ctypes.CDLL] = None


def _c() -> ctypes.CDLL:
    global _C
    if _C is None:
        _C = _lib.load()
    return _C


def _check(ret: int) -> int:
    if ret < 0:
        raise OSError(-ret, os.strerror(-ret))
    return ret


def _name(raw: Optional[bytes]) -> Optional[str]:
    # Paths are bytes; undecodable bytes survive as surrogates (os.fsdecode).
    return None if raw is None else os.fsdecode(raw)


@dataclass(frozen=True)
class Vma:
    """One VMA, as a line of /proc/PID/maps describes it."""
    start: int
    end: int
    offset: int
    dev: Tuple[int, int]
    inode: int
    flags: int
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
        return os.fsdecode(buf.raw[:n])

    @classmethod
    def _from_c(cls, p) -> "Vma":
        v = p.contents
        bid = bytes(v.build_id[:v.build_id_size]) if v.build_id_size else None
        kind = _lib.KINDS[v.kind] if v.kind < len(_lib.KINDS) else "special"
        return cls(v.start, v.end, v.offset, (v.dev_major, v.dev_minor), v.inode,
                   v.flags, v.page_size, _name(v.name), bid, kind)


def _to_c(v: Vma) -> _lib.Vma:
    raw = _lib.Vma()
    raw.size = ctypes.sizeof(_lib.Vma)
    raw.start, raw.end, raw.offset, raw.inode = v.start, v.end, v.offset, v.inode
    raw.dev_major, raw.dev_minor = v.dev
    raw.flags, raw.page_size = v.flags, v.page_size
    raw.name = os.fsencode(v.name) if v.name is not None else None
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


class Process:
    """A process's address space: the one it had when opened.

    After the process exits or execs, every query raises ProcessLookupError.
    Use as a context manager, or call close().
    """

    def __init__(self, handle: ctypes.c_void_p):
        self._h = handle

    def _handle(self) -> ctypes.c_void_p:
        if not self._h:
            raise ValueError("the process handle is closed")
        return self._h

    def close(self) -> None:
        if self._h:
            _c().vmaq_close(self._h)
            self._h = None

    def __enter__(self) -> "Process":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """The backend in use: 'batch', 'query' or 'text'."""
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
        _check(_c().vmaq_generation(self._handle(), ctypes.byref(gen)))
        return gen.value

    @property
    def pid(self) -> Optional[int]:
        pid = _c().vmaq_pid(self._handle())
        return None if pid < 0 else pid

    def find(self, addr: int, *, next: bool = False, filter: str = "",
             build_id: bool = False) -> Optional[Vma]:
        """The VMA covering addr (or, with next=True, the first after it)."""
        p = ctypes.POINTER(_lib.Vma)()
        flags = _flags(filter, True, build_id) | (_lib.NEXT if next else 0)
        ret = _c().vmaq_find(self._handle(), addr, flags, ctypes.byref(p))
        if ret == -2:		# ENOENT: nothing there
            return None
        _check(ret)
        return Vma._from_c(p)

    def vmas(self, *, filter: str = "", names: bool = True,
             build_id: bool = False) -> Iterator[Vma]:
        """Every VMA matching filter ('r', 'w', 'x', 's', 'file', 'anon')."""
        it = ctypes.c_void_p()
        _check(_c().vmaq_iter_new(self._handle(), _flags(filter, names, build_id),
                                  ctypes.byref(it)))
        try:
            p = ctypes.POINTER(_lib.Vma)()
            while _check(_c().vmaq_iter_next(it, ctypes.byref(p))):
                yield Vma._from_c(p)
        finally:
            _c().vmaq_iter_free(it)

    def __iter__(self) -> Iterator[Vma]:
        return self.vmas()

    def lookup(self, addrs: Iterable[int], *, filter: str = "",
               build_id: bool = False) -> List[Optional[Vma]]:
        """The VMA of each address (None if unmapped), in one batched call."""
        seq: Sequence[int] = list(addrs)
        arr = (ctypes.c_uint64 * len(seq))(*seq)
        res = ctypes.c_void_p()
        _check(_c().vmaq_lookup(self._handle(), arr, len(seq),
                                _flags(filter, True, build_id), ctypes.byref(res)))
        try:
            out: List[Optional[Vma]] = []
            cache = {}
            for i in range(len(seq)):
                p = _c().vmaq_lookup_vma(res, i)
                if not p:
                    out.append(None)
                    continue
                key = ctypes.addressof(p.contents)	# one record per VMA
                if key not in cache:
                    cache[key] = Vma._from_c(p)
                out.append(cache[key])
            return out
        finally:
            _c().vmaq_lookup_free(res)

    def snapshot(self, *, filter: str = "", build_id: bool = False) -> "Snapshot":
        """The whole map in memory; see Snapshot."""
        s = ctypes.c_void_p()
        _check(_c().vmaq_snapshot_new(self._handle(), _flags(filter, True, build_id),
                                      ctypes.byref(s)))
        return Snapshot(self, s)


class Snapshot:
    """A copy of a process's map answering lookups without system calls.

    refresh() re-reads the map only if it changed (stale() tells); on a
    process that exited it raises and keeps its contents.
    """

    def __init__(self, proc: Process, handle: ctypes.c_void_p):
        self._proc = proc	# for the reader; the C snapshot holds the handle
        self._h = handle

    def close(self) -> None:
        if self._h:
            _c().vmaq_snapshot_free(self._h)
            self._h = None

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __len__(self) -> int:
        return _c().vmaq_snapshot_count(self._h)

    def __iter__(self) -> Iterator[Vma]:
        for i in range(len(self)):
            yield Vma._from_c(_c().vmaq_snapshot_vma(self._h, i))

    def find(self, addr: int) -> Optional[Vma]:
        p = _c().vmaq_snapshot_find(self._h, addr)
        return Vma._from_c(p) if p else None

    def stale(self) -> bool:
        return bool(_check(_c().vmaq_snapshot_stale(self._h)))

    def refresh(self) -> bool:
        """Bring the snapshot up to date; True if it changed."""
        return bool(_check(_c().vmaq_snapshot_refresh(self._h)))


def open(pid: int = 0, *, backend: Optional[str] = None) -> Process:  # noqa: A001
    """Open process pid's map (0: this process). backend: 'batch', 'query',
    'text' or None for the best available (or $VMAQ_BACKEND)."""
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise TypeError("pid must be an int")
    h = ctypes.c_void_p()
    _check(_c().vmaq_open(pid, ctypes.byref(_opts(backend)), ctypes.byref(h)))
    return Process(h)


def open_fd(fd: int, *, backend: Optional[str] = None) -> Process:
    """Open from a /proc/PID/maps descriptor (the library keeps a duplicate)."""
    h = ctypes.c_void_p()
    _check(_c().vmaq_open_fd(fd, ctypes.byref(_opts(backend)), ctypes.byref(h)))
    return Process(h)


def kernel_backends() -> List[str]:
    """The backends the running kernel offers, best first."""
    mask = ctypes.c_uint()
    _check(_c().vmaq_kernel_backends(ctypes.byref(mask)))
    return [n for n in ("batch", "query", "text") if mask.value & (1 << _lib.BACKENDS[n])]
