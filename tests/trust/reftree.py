"""A deliberately naive reference Merkle tree, RFC 9162 section 2.1.

Every function here is a literal transcription of the recursive definitions
of RFC 9162 (identical to RFC 6962 section 2.1) over a list of leaf *data*
byte strings D[n].  Nothing is cached or computed incrementally: this module
is the yardstick the verifier and the project are compared against, so it
must be obviously right rather than fast.

  MTH(D[n])       2.1.1    Merkle Tree Hash
  PATH(m, D[n])   2.1.3.1  inclusion proof (audit path) of leaf m
  PROOF(m, D[n])  2.1.4.1  consistency proof between sizes m and n
  SUBPROOF(m, D[n], b)

SPEC.md section 11: the hash is SHA-256, leaf hash SHA-256(0x00 || data),
interior node SHA-256(0x01 || left || right); leaf i is record seq i + 1.
"""

import hashlib

__all__ = ["HASH", "leaf_hash", "node_hash", "empty_root", "split_point",
           "mth", "path", "proof", "subproof"]


def HASH(data):
    """The tree's hash function, SHA-256 (RFC 9162 2.1, SPEC 11)."""
    return hashlib.sha256(data).digest()


def leaf_hash(d):
    """MTH({d(0)}) = HASH(0x00 || d(0))  (RFC 9162 2.1.1)."""
    return HASH(b"\x00" + bytes(d))


def node_hash(left, right):
    """HASH(0x01 || left || right)  (RFC 9162 2.1.1)."""
    return HASH(b"\x01" + left + right)


def empty_root():
    """MTH({}) = HASH(), the hash of an empty string (RFC 9162 2.1.1)."""
    return HASH(b"")


def split_point(n):
    """k, the largest power of two smaller than n, for n > 1 (RFC 9162 2.1.1)."""
    if n < 2:
        raise ValueError("split_point needs n > 1")
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(D):
    """MTH(D[n]) (RFC 9162 2.1.1).

    MTH({})       = HASH()
    MTH({d(0)})   = HASH(0x00 || d(0))
    MTH(D[n])     = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  for n > 1
    """
    n = len(D)
    if n == 0:
        return empty_root()
    if n == 1:
        return leaf_hash(D[0])
    k = split_point(n)
    return node_hash(mth(D[:k]), mth(D[k:]))


def path(m, D):
    """PATH(m, D[n]), the audit path of leaf m, 0 <= m < n (RFC 9162 2.1.3.1).

    PATH(0, {d(0)}) = {}
    for n > 1, k = split_point(n):
      m <  k: PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
      m >= k: PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
    """
    n = len(D)
    if not 0 <= m < n:
        raise ValueError("PATH needs 0 <= m < n (m=%d, n=%d)" % (m, n))
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return path(m, D[:k]) + [mth(D[k:])]
    return path(m - k, D[k:]) + [mth(D[:k])]


def proof(m, D):
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), 0 < m <= n (RFC 9162 2.1.4.1)."""
    n = len(D)
    if not 0 < m <= n:
        raise ValueError("PROOF needs 0 < m <= n (m=%d, n=%d)" % (m, n))
    return subproof(m, D, True)


def subproof(m, D, b):
    """SUBPROOF(m, D[n], b) (RFC 9162 2.1.4.1).

    SUBPROOF(m, D[m], true)  = {}
    SUBPROOF(m, D[m], false) = {MTH(D[m])}
    for m < n, k = split_point(n):
      m <= k: SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      m >  k: SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
    """
    n = len(D)
    if not 0 < m <= n:
        raise ValueError("SUBPROOF needs 0 < m <= n (m=%d, n=%d)" % (m, n))
    if m == n:
        return [] if b else [mth(D)]
    k = split_point(n)
    if m <= k:
        return subproof(m, D[:k], b) + [mth(D[k:])]
    return subproof(m - k, D[k:], False) + [mth(D[:k])]
