"""Tags, branches and Call-IDs: unique and random (RFC 3261 §19.3, §8.1.1.7, §8.1.1.4)."""

from __future__ import annotations

import os
import re

import pytest

from sipwire.message.message import new_branch, new_call_id, new_tag


def test_shapes() -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", new_tag())  # 48 random bits, over §19.3's 32
    assert re.fullmatch(r"z9hG4bK[0-9a-f]{20}", new_branch())  # §8.1.1.7 cookie
    assert re.fullmatch(r"[0-9a-f]{24}@host\.example", new_call_id("host.example"))
    assert re.fullmatch(r"[0-9a-f]{24}", new_call_id())


def test_never_repeated_across_many_pool_refills() -> None:
    tags = [new_tag() for _ in range(20000)]  # about 30 reads of the 4 KiB pool
    branches = [new_branch() for _ in range(5000)]
    assert len(set(tags)) == len(tags) and len(set(branches)) == len(branches)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_its_parents_identifiers() -> None:
    new_tag()  # the pool holds unused bytes now, which the child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next tags, to the parent
        os.close(read)
        os.write(write, " ".join(new_tag() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [new_tag() for _ in range(10)]
    assert len(child) == 10 and not set(child) & set(parent)
