"""Adaptive batching: requests that arrive together are predicted in one call.

A prediction call costs about the same for one row as for thirty-two: building the frame and
features and the estimator's checks on each call dominate, not the rows. So the service
hands every request's rows to one `RowBatcher`, which predicts them together:

- A lone request is predicted at once, as a batch of its own: at one connection nothing waits.
- Requests that arrive while a call runs are predicted together in the next one.
- After a call that answered several requests, the next waits up to `max_wait` seconds for as
  many to gather: their clients are about to send again. Without this wait the first to arrive
  ran alone and the rest waited for it, so calls alternated between one request and the others.

Predictions run on the event loop, between requests, not on a thread: a second thread made
the loop wait for the interpreter lock after every socket call, and the loop was slower.
Each row's answer is the one it gets alone: the model scores rows independently.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


@dataclass
class _Waiting:
    rows: list[Row]
    answer: asyncio.Future[list[Any]] = field(repr=False)


class RowBatcher:
    """Calls `predict` with the rows of every waiting request, at most `max_rows` rows a call.

    `predict` takes rows and returns one result per row, in order. A request larger than
    `max_rows` is still predicted, in a call of its own. If `predict` raises, every request
    in that call gets the exception.
    """

    def __init__(self, predict: Callable[[list[Row]], Sequence[Any]], *, max_rows: int, max_wait: float) -> None:
        if max_rows < 1 or max_wait < 0:
            raise ValueError(f"max_rows must be at least 1 and max_wait not negative, not {max_rows} and {max_wait}")
        self.predict = predict
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.waiting: deque[_Waiting] = deque()
        self.expected = 1  # requests the last call answered: how many to wait for
        self.enough = asyncio.Event()
        self.draining: asyncio.Task[None] | None = None
        self.calls = 0  # prediction calls made

    async def submit(self, rows: list[Row]) -> list[Any]:
        """The results for `rows`, predicted with whatever else is waiting."""
        waiting = _Waiting(rows, asyncio.get_running_loop().create_future())
        self.waiting.append(waiting)
        if len(self.waiting) >= self.expected:
            self.enough.set()
        if self.draining is None or self.draining.done():
            # In a context of its own: it serves many requests, so it must not carry one's request id.
            self.draining = asyncio.create_task(self.drain(), context=contextvars.Context())
        return await waiting.answer

    async def drain(self) -> None:
        """Predict batches until no request is waiting."""
        while batch := await self.gather():
            rows = [row for waiting in batch for row in waiting.rows]
            self.calls += 1
            try:
                results = self.predict(rows)
            except Exception as error:  # handed to each waiting request, which raises it
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(error)
                continue
            start = 0
            for waiting in batch:
                end = start + len(waiting.rows)
                if not waiting.answer.done():  # a request cancelled meanwhile (client gone, timeout)
                    waiting.answer.set_result(list(results[start:end]))
                start = end

    async def gather(self) -> list[_Waiting]:
        """The next batch, after waiting (up to `max_wait`) for as many requests as the last call had."""
        if self.expected > 1 and len(self.waiting) < self.expected:
            self.enough.clear()
            with contextlib.suppress(TimeoutError):  # fewer came: predict those there are
                await asyncio.wait_for(self.enough.wait(), self.max_wait)
        batch = self.next_batch()
        self.expected = max(1, len(batch))
        return batch

    def next_batch(self) -> list[_Waiting]:
        """The waiting requests for the next call: in arrival order, at most `max_rows` rows unless one is larger."""
        batch: list[_Waiting] = []
        rows = 0
        while self.waiting:
            waiting = self.waiting[0]
            if waiting.answer.done():  # cancelled before its turn: nothing to predict
                self.waiting.popleft()
                continue
            if batch and rows + len(waiting.rows) > self.max_rows:
                break
            batch.append(self.waiting.popleft())
            rows += len(waiting.rows)
        return batch
