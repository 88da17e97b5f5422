"""Raw pointers into numpy arrays for the parser's inner loops, and a software prefetch.

Why: numba counts references to arrays. A function inlined into a loop (``inline="always"``) that
takes array arguments gets an ``NRT_incref``/``NRT_decref`` pair per call for each of them, and when
the inlined body has branches and early returns numba's reference-count pruning cannot remove the
pairs: the fused fast path paid four atomic increments/decrements per packet and layer (found in its
assembly; removing them took the in-cache rate from 31 to 70 M packets/s). A ``CPointer`` is a plain
machine address with no reference count, indexed like a 1-D array (``ptr[k]``; no bounds or negative
index handling), so the parser takes pointers and the kernels take them once, outside the loop.

The array must outlive the pointer: take it inside the numba function that holds the array.
"""

from __future__ import annotations

from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: llvm.prefetch's locality argument: 3 = keep in every cache level (LLVM LangRef, llvm.prefetch).
PREFETCH_LOCALITY_ALL = 3
#: llvm.prefetch's rw argument (0 = read) and cache type (1 = data cache) (LLVM LangRef).
PREFETCH_READ, PREFETCH_DATA_CACHE = 0, 1
# LLVM 17 dropped typed pointers: the intrinsic is mangled p0 there, p0i8 (pointer to i8) before.
_PREFETCH_NAME = "llvm.prefetch.p0" if llvm.llvm_version_info >= (17,) else "llvm.prefetch.p0i8"


@intrinsic
def data_ptr(typingctx, arr):
    """Pointer to element 0 of a C-contiguous array (``CPointer(arr.dtype)``)."""
    if not isinstance(arr, types.Array) or arr.layout != "C":
        return None
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, signature, args):
        return context.make_array(signature.args[0])(context, builder, args[0]).data

    return sig, codegen


@intrinsic
def prefetch(typingctx, ptr, idx):
    """Hint the CPU to load the cache line holding ``ptr[idx]`` (never faults, even out of range)."""
    if not isinstance(ptr, types.CPointer) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(ptr, idx)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        addr = builder.bitcast(builder.gep(args[0], [args[1]]), i8p)
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            _PREFETCH_NAME)
        builder.call(fn, [addr, i32(PREFETCH_READ), i32(PREFETCH_LOCALITY_ALL), i32(PREFETCH_DATA_CACHE)])
        return context.get_dummy_value()

    return sig, codegen
