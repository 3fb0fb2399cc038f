# SPDX-License-Identifier: LGPL-2.1-or-later
"""Loading libvmaquery and declaring its C interface for ctypes.

Nothing here knows about maps: it mirrors vmaquery.h, nothing more, and
checks at load that the library it found is one this mirror is true of.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Iterator, Optional, Tuple

SONAME = "libvmaquery.so.1"
# The binding needs 1.x, x >= this (vmaq_lookup_index() came with 1.0).
MAJOR, MIN_MINOR = 1, 0


class LibraryNotFound(ImportError):
    """libvmaquery could not be loaded, or is not one this binding can use;
    the message lists where it looked and why each place failed."""


class Vma(ctypes.Structure):
    """struct vmaq_vma, as libvmaquery 1.0 defines it (VMAQ_VMA_SIZE_1_0)"""
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("start", ctypes.c_uint64),
        ("end", ctypes.c_uint64),
        ("offset", ctypes.c_uint64),
        ("inode", ctypes.c_uint64),
        ("dev_major", ctypes.c_uint32),
        ("dev_minor", ctypes.c_uint32),
        ("page_size", ctypes.c_uint64),
        ("name", ctypes.c_char_p),
        ("build_id", ctypes.POINTER(ctypes.c_ubyte)),
        ("build_id_size", ctypes.c_uint32),
        ("name_len", ctypes.c_uint32),
        ("kind", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


class Object(ctypes.Structure):
    """struct vmaq_object."""
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("kind", ctypes.c_uint32),
        ("inode", ctypes.c_uint64),
        ("dev_major", ctypes.c_uint32),
        ("dev_minor", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("name_len", ctypes.c_uint32),
        ("build_id_size", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("name", ctypes.c_void_p),
        ("build_id", ctypes.c_void_p),
    ]


class NormAddr(ctypes.Structure):
    """struct vmaq_norm_addr."""
    _fields_ = [
        ("offset", ctypes.c_uint64),
        ("object", ctypes.c_uint32),
        ("reason", ctypes.c_uint32),
    ]


class OpenOpts(ctypes.Structure):
    """struct vmaq_open_opts"""
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("backend", ctypes.c_int),
        ("reserved", ctypes.c_uint32),
    ]


class ScanOpts(ctypes.Structure):
    """struct vmaq_scan_opts"""
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("backend", ctypes.c_int),
        ("flags", ctypes.c_uint32),
        ("scan_flags", ctypes.c_uint32),
        ("uid", ctypes.c_uint32),
        ("cgroup", ctypes.c_char_p),
        ("reserved", ctypes.c_uint64),
    ]


SCAN_UID = 0x1


class Change(ctypes.Structure):
    """struct vmaq_change"""
    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("vma", ctypes.POINTER(Vma)),
        ("was", ctypes.POINTER(Vma)),
    ]


class Event(ctypes.Structure):
    """struct vmaq_event"""
    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("pid", ctypes.c_int32),
    ]


class EventsOpts(ctypes.Structure):
    """struct vmaq_events_opts"""
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("flags", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


class CacheOpts(ctypes.Structure):
    """struct vmaq_cache_opts"""
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("backend", ctypes.c_int),
        ("flags", ctypes.c_uint32),
        ("max_procs", ctypes.c_uint32),
        ("cache_flags", ctypes.c_uint32),
    ]


# enum vmaq_change_kind and enum vmaq_event_kind, by value
CHANGES = (None, "added", "removed", "modified")
EVENTS = (None, "exec", "exit", "lost", "change")

# Flags, as in vmaquery.h.
READ, WRITE, EXEC, SHARED, FILE, ANON, DELETED = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
NEXT, NAME, BUILD_ID = 0x100, 0x200, 0x400
# enum vmaq_kind, by value
KINDS = ("unknown", "file", "anon", "heap", "stack", "vdso", "vvar", "gate", "special")
BACKENDS = {"auto": 0, "batch": 1, "query": 2, "text": 3}
LOOKUP_UNMAPPED = 0xFFFFFFFF

_p = ctypes.c_void_p
_vma_pp = ctypes.POINTER(ctypes.POINTER(Vma))
_u64p = ctypes.POINTER(ctypes.c_uint64)

# (name, restype, argtypes)
_PROTOTYPES = [
    ("vmaq_open", ctypes.c_int, [ctypes.c_int, ctypes.POINTER(OpenOpts), ctypes.POINTER(_p)]),
    ("vmaq_open_fd", ctypes.c_int, [ctypes.c_int, ctypes.POINTER(OpenOpts), ctypes.POINTER(_p)]),
    ("vmaq_open_pidfd", ctypes.c_int, [ctypes.c_int, ctypes.POINTER(OpenOpts), ctypes.POINTER(_p)]),
    ("vmaq_close", None, [_p]),
    ("vmaq_backend", ctypes.c_int, [_p]),
    ("vmaq_backend_name", ctypes.c_char_p, [ctypes.c_int]),
    ("vmaq_pid", ctypes.c_int, [_p]),
    ("vmaq_kernel_backends", ctypes.c_int, [ctypes.POINTER(ctypes.c_uint)]),
    ("vmaq_generation", ctypes.c_int, [_p, _u64p]),
    ("vmaq_find", ctypes.c_int, [_p, ctypes.c_uint64, ctypes.c_uint, _vma_pp]),
    ("vmaq_iter_new", ctypes.c_int, [_p, ctypes.c_uint, ctypes.POINTER(_p)]),
    ("vmaq_iter_range", ctypes.c_int, [_p, ctypes.c_uint, ctypes.c_uint64, ctypes.c_uint64,
                                       ctypes.POINTER(_p)]),
    ("vmaq_iter_next", ctypes.c_int, [_p, _vma_pp]),
    ("vmaq_iter_free", None, [_p]),
    ("vmaq_normalize", ctypes.c_int, [_p, _u64p, ctypes.c_size_t, ctypes.c_uint,
                                      ctypes.POINTER(_p)]),
    ("vmaq_norm_count", ctypes.c_size_t, [_p]),
    ("vmaq_norm_addrs", ctypes.POINTER(NormAddr), [_p]),
    ("vmaq_norm_objects", ctypes.c_size_t, [_p]),
    ("vmaq_norm_object", ctypes.POINTER(Object), [_p, ctypes.c_size_t]),
    ("vmaq_norm_free", None, [_p]),
    ("vmaq_lookup", ctypes.c_int, [_p, _u64p, ctypes.c_size_t, ctypes.c_uint,
                                   ctypes.POINTER(_p)]),
    ("vmaq_lookup_vma", ctypes.POINTER(Vma), [_p, ctypes.c_size_t]),
    ("vmaq_lookup_records", ctypes.c_size_t, [_p]),
    ("vmaq_lookup_record", ctypes.POINTER(Vma), [_p, ctypes.c_size_t]),
    ("vmaq_lookup_index", ctypes.c_int, [_p, ctypes.c_size_t, ctypes.c_size_t, _p]),
    ("vmaq_lookup_free", None, [_p]),
    ("vmaq_snapshot_new", ctypes.c_int, [_p, ctypes.c_uint, ctypes.POINTER(_p)]),
    ("vmaq_snapshot_count", ctypes.c_size_t, [_p]),
    ("vmaq_snapshot_vma", ctypes.POINTER(Vma), [_p, ctypes.c_size_t]),
    ("vmaq_snapshot_find", ctypes.POINTER(Vma), [_p, ctypes.c_uint64]),
    ("vmaq_snapshot_stale", ctypes.c_int, [_p]),
    ("vmaq_snapshot_refresh", ctypes.c_int, [_p]),
    ("vmaq_snapshot_free", None, [_p]),
    ("vmaq_snapshot_update", ctypes.c_int, [_p, ctypes.POINTER(_p)]),
    ("vmaq_diff_count", ctypes.c_size_t, [_p]),
    ("vmaq_diff_change", ctypes.POINTER(Change), [_p, ctypes.c_size_t]),
    ("vmaq_diff_free", None, [_p]),
    ("vmaq_events_new", ctypes.c_int, [ctypes.POINTER(EventsOpts), ctypes.POINTER(_p)]),
    ("vmaq_events_fd", ctypes.c_int, [_p]),
    ("vmaq_events_read", ctypes.c_int, [_p, ctypes.POINTER(Event), ctypes.c_size_t]),
    ("vmaq_events_free", None, [_p]),
    ("vmaq_cache_new", ctypes.c_int, [ctypes.POINTER(CacheOpts), ctypes.POINTER(_p)]),
    ("vmaq_cache_free", None, [_p]),
    ("vmaq_cache_get", ctypes.c_int, [_p, ctypes.c_int, ctypes.POINTER(_p)]),
    ("vmaq_cache_refresh", ctypes.c_int, [_p, ctypes.c_int]),
    ("vmaq_cache_feed", ctypes.c_int, [_p, ctypes.POINTER(Event), ctypes.c_size_t]),
    ("vmaq_cache_revalidate", ctypes.c_int, [_p]),
    ("vmaq_cache_count", ctypes.c_size_t, [_p]),
    ("vmaq_scan_new", ctypes.c_int, [ctypes.POINTER(ScanOpts), ctypes.POINTER(_p)]),
    ("vmaq_scan_next", ctypes.c_int, [_p, ctypes.POINTER(ctypes.c_int)]),
    ("vmaq_scan_proc", _p, [_p]),
    ("vmaq_scan_vma", ctypes.c_int, [_p, _vma_pp]),
    ("vmaq_scan_free", None, [_p]),
    ("vmaq_version", ctypes.c_uint32, []),
    ("vmaq_version_string", ctypes.c_char_p, []),
    ("vmaq_format", ctypes.c_int, [ctypes.POINTER(Vma), ctypes.c_char_p, ctypes.c_size_t]),
]


def candidates() -> Iterator[Tuple[str, str]]:
    """Where the library is looked for, in order, and what each place is:
    $VMAQUERY_LIBRARY alone when it is set; else a copy in this package's
    own directory, then the soname through the system's dynamic loader
    (its cache, LD_LIBRARY_PATH, the default directories). Nowhere else:
    no directory above the package is ever looked into."""
    env = os.environ.get("VMAQUERY_LIBRARY")
    if env:
        yield env, "$VMAQUERY_LIBRARY"
        return
    here = Path(__file__).resolve().parent / SONAME
    if here.exists():
        yield str(here), "the package's directory"
    yield SONAME, "the dynamic loader's path"


def _declare(lib: ctypes.CDLL) -> None:
    for name, res, args in _PROTOTYPES:
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise LibraryNotFound(f"{name} is missing: not libvmaquery {MAJOR}.{MIN_MINOR} "
                                  "or later") from None
        fn.restype = res
        fn.argtypes = args


def _check_version(lib: ctypes.CDLL) -> None:
    code = lib.vmaq_version()
    major, minor = code >> 16, (code >> 8) & 0xFF
    if major != MAJOR or minor < MIN_MINOR:
        raise LibraryNotFound(f"version {major}.{minor}.{code & 0xFF}; this binding needs "
                              f"{MAJOR}.x with x >= {MIN_MINOR}")


def _check_layout(lib: ctypes.CDLL) -> None:
    """The struct this module declares is the library's: vmaq_format()
    reads a record made here field by field, and must print what those
    fields say. A library built with another layout prints another line."""
    v = Vma()
    v.size = ctypes.sizeof(Vma)
    v.start, v.end, v.offset, v.inode = 0x1000, 0x3000, 0x20000, 4242
    v.dev_major, v.dev_minor = 0x12, 0x34
    v.flags = READ | EXEC | FILE
    v.page_size = 4096
    v.name = b"/layout/check"
    v.name_len = len(v.name)
    v.kind = 1
    buf = ctypes.create_string_buffer(256)
    n = lib.vmaq_format(ctypes.byref(v), buf, len(buf))
    want = b"00001000-00003000 r-xp 00020000 12:34 4242"
    got = buf.raw[:max(n, 0)]
    if not (got.startswith(want) and got.rstrip(b"\n").endswith(b" /layout/check")):
        raise LibraryNotFound(f"struct vmaq_vma is not laid out as this binding declares it "
                              f"(vmaq_format printed {got!r})")


def load(path: Optional[str] = None) -> Tuple[ctypes.CDLL, str]:
    """Load libvmaquery (see candidates() for where), check it, declare its
    functions: the library and the place it came from."""
    tried = []
    places = [(path, "the given path")] if path else list(candidates())
    for cand, where in places:
        try:
            lib = ctypes.CDLL(cand, use_errno=True)
        except OSError as e:
            tried.append(f"{cand} ({where}): {e}")
            continue
        try:
            _declare(lib)
            _check_version(lib)
            _check_layout(lib)
        except LibraryNotFound as e:
            tried.append(f"{cand} ({where}): {e}")
            continue
        return lib, cand
    raise LibraryNotFound(
        "no usable libvmaquery; install it (make install) or set VMAQUERY_LIBRARY "
        "to its path. Tried:\n  " + "\n  ".join(tried))
