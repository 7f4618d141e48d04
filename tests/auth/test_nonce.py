"""Signed nonces and the nonce-count map (RFC 7616 §3.3, §5.4, §5.5)."""

from __future__ import annotations

from sipwire.auth.nonce import NonceCounter, NonceSigner, SignedNonce

SECRET = b"k" * 32


def test_a_nonce_checks_out_with_its_issue_time_and_is_token_safe() -> None:
    signer = NonceSigner("example.com", SECRET)
    nonce = signer.issue(1234.5)
    checked = signer.check(nonce)
    assert checked == SignedNonce(nonce, 1234500)
    assert checked.issued == 1234.5
    assert len(nonce) == 48 and all(c.isalnum() or c in "-_" for c in nonce)
    assert signer.issue(1234.5) != nonce  # the random part


def test_every_flipped_character_is_refused() -> None:
    signer = NonceSigner("example.com", SECRET)
    nonce = signer.issue(10.0)
    for i in range(len(nonce)):
        flipped = nonce[:i] + ("A" if nonce[i] != "A" else "B") + nonce[i + 1:]
        assert signer.check(flipped) is None, i


def test_a_nonce_is_bound_to_its_realm_and_secret() -> None:
    nonce = NonceSigner("example.com", SECRET).issue(10.0)
    assert NonceSigner("example.org", SECRET).check(nonce) is None
    assert NonceSigner("example.com", b"j" * 32).check(nonce) is None
    assert NonceSigner("example.com", SECRET).check(nonce) is not None  # no state needed


def test_garbage_is_refused() -> None:
    signer = NonceSigner("example.com", SECRET)
    for text in ("", "abc", "=" * 48, "é" * 48, "dcd98b7102dd2f0e8b11d0f600bfb0c093"):
        assert signer.check(text) is None


def _nonce(signer: NonceSigner, now: float) -> SignedNonce:
    checked = signer.check(signer.issue(now))
    assert checked is not None
    return checked


def test_nonce_count_must_go_up() -> None:
    signer = NonceSigner("r", SECRET)
    counter = NonceCounter(lifetime=300)
    counter.start(0)
    nonce = _nonce(signer, 1)
    assert counter.advance(nonce, 1, 2)
    assert not counter.advance(nonce, 1, 3)  # replayed
    assert counter.advance(nonce, 3, 4)  # gaps are fine
    assert not counter.advance(nonce, 2, 5)  # lower
    assert counter.advance(_nonce(signer, 6), 1, 6)  # another nonce counts apart


def test_nonces_from_before_the_counter_started_are_refused() -> None:
    # A previous process with the same secret may have accepted them.
    signer = NonceSigner("r", SECRET)
    old = _nonce(signer, 50)
    counter = NonceCounter(lifetime=300)
    counter.start(100)
    assert not counter.advance(old, 1, 101)
    assert counter.advance(_nonce(signer, 100), 1, 101)


def test_a_forgotten_nonce_cannot_be_replayed() -> None:
    signer = NonceSigner("r", SECRET)
    counter = NonceCounter(lifetime=300, max_entries=2)
    counter.start(0)
    first, second, third = (_nonce(signer, t) for t in (1, 2, 3))
    assert counter.advance(first, 1, 4)
    assert counter.advance(second, 1, 4)
    assert counter.advance(third, 1, 4)  # pushes `first` out
    assert len(counter) == 2
    assert not counter.advance(first, 1, 5)  # the floor remembers it
    assert counter.advance(third, 2, 5)


def test_expired_entries_are_dropped() -> None:
    signer = NonceSigner("r", SECRET)
    counter = NonceCounter(lifetime=10)
    counter.start(0)
    assert counter.advance(_nonce(signer, 1), 1, 1)
    assert counter.advance(_nonce(signer, 20), 1, 20)
    assert len(counter) == 1
