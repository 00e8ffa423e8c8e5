"""Messages for later heights: bounded buffering until this node reaches their height, and sync requests."""

from __future__ import annotations

from node.consensus.messages import (
    Message,
    encode_message,
)
from node.consensus.protocol import (
    FUTURE_HEIGHT_WINDOW,
    MAX_BUFFERED_PER_AUTHOR,
    Action,
    BlockT,
    RequestSync,
)
from node.consensus.round_state import RoundState


class FutureBuffer(RoundState[BlockT]):
    """Buffers valid messages of validators for heights up to FUTURE_HEIGHT_WINDOW ahead, within
    per-author and total byte budgets; traffic from ahead asks the runtime to sync (at most every
    ``sync_retry_ms``)."""

    _future: dict[int, list[tuple[Message[BlockT], int]]]
    _future_counts: dict[tuple[int, bytes], int]
    _future_bytes_by_author: dict[bytes, int]
    _future_bytes: int
    _last_sync_request_ms: int | None

    @property
    def future_buffered_bytes(self) -> int:
        """The encoded bytes of the future-height messages buffered now (at most ``future_bytes_total``)."""
        return self._future_bytes

    def _buffer_future(
        self, message: Message[BlockT], size: int | None, now_ms: int, out: list[Action[BlockT]]
    ) -> None:
        author = message.author
        joining = message.height == self._height + 1 and author in self._incoming
        if author not in self._index_of and not joining:
            # Buffering strangers' traffic invites memory abuse; a validator that a block accepted at this
            # height adds may speak at the next height before this node has decided this one.
            self._count_ignored("future_non_validator")
            return
        if not self._has_valid_signature(message.signed):
            self._reject("bad_signature", message.height, message.round, author, out)
            return
        self._request_sync(now_ms, out, force=False)
        if message.height > self._height + FUTURE_HEIGHT_WINDOW:
            self._count_ignored("height_too_far")
            return
        key = (message.height, author)
        count = self._future_counts.get(key, 0)
        if count >= MAX_BUFFERED_PER_AUTHOR:
            self._count_ignored("future_buffer_full")
            return
        if size is None:
            try:
                size = len(encode_message(message, self.app.encode_block))
            except Exception:  # a decoded message the codec cannot re-encode is not worth keeping
                self._reject("unencodable", message.height, message.round, author, out)
                return
        # Counts alone allow heights x messages x message size per author; bytes are what memory is.
        # Dropping is safe: the RequestSync above fetches the committed blocks instead.
        author_bytes = self._future_bytes_by_author.get(author, 0) + size
        if author_bytes > self.config.future_bytes_per_author:
            self._count_ignored("future_author_bytes_full")
            return
        if self._future_bytes + size > self.config.future_bytes_total:
            self._count_ignored("future_total_bytes_full")
            return
        self._future_counts[key] = count + 1
        self._future_bytes_by_author[author] = author_bytes
        self._future_bytes += size
        self._future.setdefault(message.height, []).append((message, size))

    def _drop_future(self, height: int) -> list[tuple[Message[BlockT], int]]:
        entries = self._future.pop(height, [])
        for key in [k for k in self._future_counts if k[0] == height]:
            del self._future_counts[key]
        for message, size in entries:
            left = self._future_bytes_by_author[message.author] - size
            if left:
                self._future_bytes_by_author[message.author] = left
            else:
                del self._future_bytes_by_author[message.author]
            self._future_bytes -= size
        return entries

    def _request_sync(self, now_ms: int, out: list[Action[BlockT]], *, force: bool) -> None:
        last = self._last_sync_request_ms
        if not force and last is not None and now_ms < last + self.config.sync_retry_ms:
            return
        self._last_sync_request_ms = now_ms
        out.append(RequestSync(self._height))
