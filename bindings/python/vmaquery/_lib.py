# SPDX-License-Identifier: LGPL-2.1-or-later
"""Loading libvmaquery and declaring its C interface for ctypes.

Nothing here knows about maps: it mirrors vmaquery.h, nothing more.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

SONAME = "libvmaquery.so.1"


class LibraryNotFound(ImportError):
    """libvmaquery could not be loaded; the message lists where we looked."""


class Vma(ctypes.Structure):
    """struct vmaq_vma"""
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


class OpenOpts(ctypes.Structure):
    """struct vmaq_open_opts"""
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("backend", ctypes.c_int),
        ("reserved", ctypes.c_uint32),
    ]


# Flags, as in vmaquery.h.
READ, WRITE, EXEC, SHARED, FILE, ANON, DELETED = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
# enum vmaq_kind, by value
KINDS = ("unknown", "file", "anon", "heap", "stack", "vdso", "vvar", "gate", "special")
NEXT, NAME, BUILD_ID = 0x100, 0x200, 0x400
BACKENDS = {"auto": 0, "batch": 1, "query": 2, "text": 3}

_p = ctypes.c_void_p
_vma_pp = ctypes.POINTER(ctypes.POINTER(Vma))

# (name, restype, argtypes)
_PROTOTYPES = [
    ("vmaq_open", ctypes.c_int, [ctypes.c_int, ctypes.POINTER(OpenOpts), ctypes.POINTER(_p)]),
    ("vmaq_open_fd", ctypes.c_int, [ctypes.c_int, ctypes.POINTER(OpenOpts), ctypes.POINTER(_p)]),
    ("vmaq_close", None, [_p]),
    ("vmaq_backend", ctypes.c_int, [_p]),
    ("vmaq_backend_name", ctypes.c_char_p, [ctypes.c_int]),
    ("vmaq_pid", ctypes.c_int, [_p]),
    ("vmaq_kernel_backends", ctypes.c_int, [ctypes.POINTER(ctypes.c_uint)]),
    ("vmaq_generation", ctypes.c_int, [_p, ctypes.POINTER(ctypes.c_uint64)]),
    ("vmaq_find", ctypes.c_int, [_p, ctypes.c_uint64, ctypes.c_uint, _vma_pp]),
    ("vmaq_iter_new", ctypes.c_int, [_p, ctypes.c_uint, ctypes.POINTER(_p)]),
    ("vmaq_iter_next", ctypes.c_int, [_p, _vma_pp]),
    ("vmaq_iter_free", None, [_p]),
    ("vmaq_lookup", ctypes.c_int, [_p, ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t,
                                   ctypes.c_uint, ctypes.POINTER(_p)]),
    ("vmaq_lookup_vma", ctypes.POINTER(Vma), [_p, ctypes.c_size_t]),
    ("vmaq_lookup_free", None, [_p]),
    ("vmaq_snapshot_new", ctypes.c_int, [_p, ctypes.c_uint, ctypes.POINTER(_p)]),
    ("vmaq_snapshot_count", ctypes.c_size_t, [_p]),
    ("vmaq_snapshot_vma", ctypes.POINTER(Vma), [_p, ctypes.c_size_t]),
    ("vmaq_snapshot_find", ctypes.POINTER(Vma), [_p, ctypes.c_uint64]),
    ("vmaq_snapshot_stale", ctypes.c_int, [_p]),
    ("vmaq_snapshot_refresh", ctypes.c_int, [_p]),
    ("vmaq_snapshot_free", None, [_p]),
    ("vmaq_version", ctypes.c_uint32, []),
    ("vmaq_format", ctypes.c_int, [ctypes.POINTER(Vma), ctypes.c_char_p, ctypes.c_size_t]),
]


def _candidates():
    env = os.environ.get("VMAQUERY_LIBRARY")
    if env:
        yield env, "$VMAQUERY_LIBRARY"
        return
    # A source tree: bindings/python/vmaquery/ -> <top>/build/lib
    for parent in Path(__file__).resolve().parents:
        lib = parent / "build" / "lib" / SONAME
        if (parent / "libvmaquery" / "vmaquery.h").exists():
            yield str(lib), "the source tree's build folder"
            break
    yield SONAME, "the installed soname"
    found = ctypes.util.find_library("vmaquery")
    if found:
        yield found, "ldconfig"


def load(path: str | None = None) -> ctypes.CDLL:
    """Load libvmaquery (see the package docstring for the search order)."""
    tried = []
    places = [(path, "the given path")] if path else list(_candidates())
    for cand, where in places:
        try:
            lib = ctypes.CDLL(cand, use_errno=True)
        except OSError as e:
            tried.append(f"{cand} ({where}): {e}")
            continue
        for name, res, args in _PROTOTYPES:
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        return lib
    raise LibraryNotFound(
        "libvmaquery not found; build it (make) or install it (make install), "
        "or set VMAQUERY_LIBRARY. Tried:\n  " + "\n  ".join(tried))
