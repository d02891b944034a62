"""A Bayesian junk filter, as mox's ``junk/filter.go`` computes it, with our own storage.

Classification: each known word gets a spaminess r = (spam count / spam messages) / (that +
ham count / ham messages), clamped to [MaxPower, 1-MaxPower]; words seen at most RareWords
times move towards 0.5; words within IgnoreWords of 0.5 are ignored. The TopWords most hammy
and most spammy words combine into the probability 1 / (1 + e^eta), eta = sum(ln(1-r) - ln(r)).
A result is significant once at least 50 ham messages were trained.

Storage (ours; mox uses a bolt database and a bloom filter file): ``<db>`` is a snapshot
(magic, then one checksummed msgpack frame: counts of messages and words, and for an account's
filter which message ids are trained as what), ``<db>.journal`` holds the changes since, one
frame per save, fsynced before ``save`` returns (as the account index, ``mox.store.index``) unless
the caller says it need not be (an account's training: the filter records which messages it
trained, so what a crash of the machine takes off the journal's end is trained again when the
account opens it; snapshots are always fsynced). A torn journal tail is cut off at open. The optional ``<bloom>`` file (``mox junk train``) holds
the words seen once, which directory training counts only from their second occurrence on.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import NamedTuple

import msgspec

from mox import mlog
from mox.message.part import Part
from mox.junk.tokenize import message_words
from mox.store import layout
from mox.store.index import JournalWriter, frame, scan_frames

SNAPSHOT_MAGIC = b"MOXJUNK\x01"
JOURNAL_MAGIC = b"MOXJUNJ\x01"
SEEN_MAGIC = b"MOXJUNS\x01"
#: Ham messages needed before a classification is significant (mox).
SIGNIFICANT_HAMS = 50


class Params(msgspec.Struct, frozen=True, kw_only=True):
    """mox's junk.Params."""

    onegrams: bool = False
    twograms: bool = True
    threegrams: bool = False
    max_power: float = 0.05
    top_words: int = 10
    ignore_words: float = 0.1
    rare_words: int = 1


class WordScore(NamedTuple):
    word: str
    score: float  # 0 ham, 1 spam


class Result(NamedTuple):
    probability: float
    significant: bool
    words: set[str]
    hams: list[WordScore]
    spams: list[WordScore]


class _State(msgspec.Struct, array_like=True, tag="junk"):
    seq: int
    hams: int
    spams: int
    words: dict[str, tuple[int, int]]  # word -> (ham, spam)
    trained: dict[int, bool] = {}  # account message id -> trained as junk


class _Delta(msgspec.Struct, array_like=True, tag="delta"):
    seq: int
    hams: int
    spams: int
    words: dict[str, tuple[int, int]]  # new values
    trained: dict[int, bool] = {}
    untrained: list[int] = []


class _Seen(msgspec.Struct, array_like=True):
    words: list[str]


_encoder = msgspec.msgpack.Encoder()
_state_decoder = msgspec.msgpack.Decoder(_State)
_delta_decoder = msgspec.msgpack.Decoder(_Delta)
_seen_decoder = msgspec.msgpack.Decoder(_Seen)


class FilterError(Exception):
    """A filter file is missing, damaged or of an unknown format."""


class Filter:
    """A junk filter in memory with its files. Thread-safe: a lock guards the counts."""

    def __init__(self, params: Params, db_path: Path, bloom_path: Path | None = None, *, fsync: bool = True) -> None:
        self.params = params
        self.db_path = Path(db_path)
        self.journal_path = self.db_path.with_name(self.db_path.name + ".journal")
        self.bloom_path = Path(bloom_path) if bloom_path is not None else None
        self.fsync = fsync
        self.log = mlog.get_logger("junk")
        self.lock = threading.RLock()
        self.hams = 0
        self.spams = 0
        self.words: dict[str, tuple[int, int]] = {}
        self.trained: dict[int, bool] = {}
        self.seen: set[str] = set()
        self._seq = 0
        self._changed: set[str] = set()
        self._trained_changed: set[int] = set()
        self._modified = False
        self._journal: JournalWriter | None = None
        self._journal_size_at_snapshot = 0

    # ----------------------------------------------------------------------- files

    @classmethod
    def create(cls, params: Params, db_path: Path, bloom_path: Path | None = None, *, fsync: bool = True) -> Filter:
        """A new, empty filter; its files must not exist (mox NewFilter)."""
        f = cls(params, db_path, bloom_path, fsync=fsync)
        if f.db_path.exists():
            raise FilterError(f"database file already exists on disk: {f.db_path}")
        if f.bloom_path is not None and f.bloom_path.exists():
            raise FilterError(f"bloom filter already exists on disk: {f.bloom_path}")
        f._modified = True
        f._write_snapshot()
        return f

    @classmethod
    def open(cls, params: Params, db_path: Path, bloom_path: Path | None = None, *, fsync: bool = True) -> Filter:
        """The filter stored at ``db_path`` (mox OpenFilter); FilterError when missing/damaged."""
        f = cls(params, db_path, bloom_path, fsync=fsync)
        f._load()
        return f

    @classmethod
    def open_or_create(cls, params: Params, db_path: Path, *, fsync: bool = True) -> Filter:
        if Path(db_path).exists():
            return cls.open(params, db_path, fsync=fsync)
        return cls.create(params, db_path, fsync=fsync)

    def _tmp(self, path: Path) -> Path:
        return path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")

    def _load(self) -> None:
        try:
            data = self.db_path.read_bytes()
        except FileNotFoundError:
            raise FilterError(f"stat db file: {self.db_path}: no such file") from None
        if not data.startswith(SNAPSHOT_MAGIC):
            raise FilterError(f"{self.db_path}: not a junk filter file of this mox")
        scan = scan_frames(data[len(SNAPSHOT_MAGIC) :], _state_decoder)
        if len(scan.frames) != 1 or scan.problem is not None:
            raise FilterError(f"{self.db_path}: damaged ({scan.problem or 'no state'})")
        st = scan.frames[0][0]
        self._seq, self.hams, self.spams = st.seq, st.hams, st.spams
        self.words = dict(st.words)
        self.trained = dict(st.trained)
        try:
            jdata = self.journal_path.read_bytes()
        except FileNotFoundError:
            jdata = b""
        if jdata and not jdata.startswith(JOURNAL_MAGIC):
            raise FilterError(f"{self.journal_path}: not a junk filter journal of this mox")
        if jdata:
            scan = scan_frames(jdata[len(JOURNAL_MAGIC) :], _delta_decoder)
            for d, _ in scan.frames:
                if d.seq <= self._seq:
                    continue
                self._seq = d.seq
                self.hams, self.spams = d.hams, d.spams
                for w, c in d.words.items():
                    if c == (0, 0):
                        self.words.pop(w, None)
                    else:
                        self.words[w] = c
                self.trained.update(d.trained)
                for id in d.untrained:
                    self.trained.pop(id, None)
            valid = len(JOURNAL_MAGIC) + scan.valid_end
            if scan.problem is not None or valid < len(jdata):
                self.log.warn("junk filter journal tail cut off", path=str(self.journal_path), reason=scan.problem)
                with open(self.journal_path, "r+b") as jf:
                    jf.truncate(valid)
            self._journal = JournalWriter(self.journal_path, fsync=self.fsync)
        if self.bloom_path is not None and self.bloom_path.exists():
            b = self.bloom_path.read_bytes()
            if not b.startswith(SEEN_MAGIC):
                raise FilterError(f"{self.bloom_path}: not a bloom file of this mox")
            try:
                self.seen = set(_seen_decoder.decode(b[len(SEEN_MAGIC) :]).words)
            except msgspec.DecodeError as e:
                raise FilterError(f"{self.bloom_path}: damaged: {e}") from None

    def _write_snapshot(self) -> None:
        st = _State(self._seq, self.hams, self.spams, self.words, self.trained)
        layout.write_file_durable(self.db_path, self._tmp(self.db_path), SNAPSHOT_MAGIC + frame(_encoder.encode(st)), fsync=self.fsync)
        layout.write_file_durable(self.journal_path, self._tmp(self.journal_path), JOURNAL_MAGIC, fsync=self.fsync)
        if self._journal is not None:
            self._journal.close()
        self._journal = JournalWriter(self.journal_path, fsync=self.fsync)
        self._journal_size_at_snapshot = len(SNAPSHOT_MAGIC) + len(_encoder.encode(st))
        self._write_seen()
        self._changed.clear()
        self._trained_changed.clear()
        self._modified = False

    def _write_seen(self) -> None:
        if self.bloom_path is not None:
            data = SEEN_MAGIC + _encoder.encode(_Seen(sorted(self.seen)))
            layout.write_file_durable(self.bloom_path, self._tmp(self.bloom_path), data, fsync=self.fsync)

    def save(self, *, sync: bool = True) -> None:
        """Make the changes since the last save durable (one journal frame, fsynced unless
        ``sync`` is false); the journal is folded into a new snapshot when it grew larger than the
        snapshot."""
        with self.lock:
            if not self._modified:
                return
            self._seq += 1
            if self._journal is None or self._journal.size > max(self._journal_size_at_snapshot, 1 << 20):
                self._write_snapshot()
                return
            d = _Delta(
                self._seq, self.hams, self.spams,
                {w: self.words.get(w, (0, 0)) for w in sorted(self._changed)},
                {i: self.trained[i] for i in sorted(self._trained_changed) if i in self.trained},
                sorted(i for i in self._trained_changed if i not in self.trained),
            )  # fmt: skip
            self._journal.append(frame(_encoder.encode(d)), sync=sync)
            self._write_seen()
            self._changed.clear()
            self._trained_changed.clear()
            self._modified = False

    def discard(self) -> None:
        """Forget unsaved changes (reload from the files)."""
        with self.lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None
            self.__init__(self.params, self.db_path, self.bloom_path, fsync=self.fsync)  # type: ignore[misc]
            self._load()

    def close(self) -> None:
        with self.lock:
            if self._modified:
                self.save()
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    # -------------------------------------------------------------------- training

    def words_of(self, data: bytes, part: Part) -> set[str]:
        p = self.params
        return message_words(data, part, onegrams=p.onegrams, twograms=p.twograms, threegrams=p.threegrams)

    def train(self, words: set[str], *, ham: bool) -> None:
        """Count a message's words as ham or spam (mox Train)."""
        with self.lock:
            self._modified = True
            if ham:
                self.hams += 1
            else:
                self.spams += 1
            for w in words:
                h, s = self.words.get(w, (0, 0))
                self.words[w] = (h + 1, s) if ham else (h, s + 1)
                self._changed.add(w)
                if self.bloom_path is not None:
                    self.seen.add(w)

    def untrain(self, words: set[str], *, ham: bool) -> None:
        """Undo an earlier ``train`` of these words (mox Untrain)."""
        with self.lock:
            self._modified = True
            if ham:
                self.hams = max(self.hams - 1, 0)
            else:
                self.spams = max(self.spams - 1, 0)
            for w in words:
                c = self.words.get(w)
                if c is None:
                    continue
                h, s = c
                c = (max(h - 1, 0), s) if ham else (h, max(s - 1, 0))
                if c == (0, 0):
                    del self.words[w]
                else:
                    self.words[w] = c
                self._changed.add(w)

    def set_trained(self, message_id: int, junk: bool | None) -> None:
        """Record how an account's message is trained (None: not trained)."""
        with self.lock:
            if junk is None:
                if self.trained.pop(message_id, None) is None:
                    return
            else:
                if self.trained.get(message_id) == junk:
                    return
                self.trained[message_id] = junk
            self._trained_changed.add(message_id)
            self._modified = True

    def reset_trained(self) -> None:
        with self.lock:
            self._trained_changed.update(self.trained)
            self.trained.clear()
            self._modified = True

    def train_files(self, paths: list[Path], *, ham: bool) -> tuple[int, int]:
        """Train messages from files as ``mox junk train`` does (mox TrainDir): a word counts from
        its second occurrence on (its first only marks it seen). Returns (messages, malformed)."""
        from mox.message import parse_message

        n = malformed = 0
        with self.lock:
            for p in paths:
                try:
                    data = Path(p).read_bytes()
                except OSError:
                    malformed += 1
                    continue
                words = self.words_of(data, parse_message(data))
                n += 1
                for w in words:
                    if w not in self.seen:
                        self.seen.add(w)
                        continue
                    h, s = self.words.get(w, (0, 0))
                    self.words[w] = (h + 1, s) if ham else (h, s + 1)
                    self._changed.add(w)
                    self._modified = True
        return n, malformed

    # ------------------------------------------------------------------ classifying

    def classify_words(self, words: set[str]) -> Result:
        """The spam probability of a message with these words (mox ClassifyWords)."""
        p = self.params
        top_ham: list[WordScore] = []
        top_spam: list[WordScore] = []
        ham_high, spam_low = 0.0, 1.0
        with self.lock:
            hams, spams = self.hams, self.spams
            known = [(w, self.words[w]) for w in words if w in self.words]
        for w, (h, s) in known:
            ws = s / spams if spams > 0 else 0.0
            wh = h / hams if hams > 0 else 0.0
            if ws + wh == 0:
                continue
            r = ws / (ws + wh)
            if r < p.max_power:
                r = p.max_power
            elif r >= 1 - p.max_power:
                r = 1 - p.max_power
            if h + s <= p.rare_words:
                # Rare words count less.
                r += (1 + p.rare_words - (h + s)) * (0.5 - r) / 10
            if abs(0.5 - r) < p.ignore_words:
                continue
            if r < 0.5:
                if len(top_ham) >= p.top_words and r > ham_high:
                    continue
                top_ham.append(WordScore(w, r))
                ham_high = max(ham_high, r)
            elif r > 0.5:
                if len(top_spam) >= p.top_words and r < spam_low:
                    continue
                top_spam.append(WordScore(w, r))
                spam_low = min(spam_low, r)
        top_ham.sort(key=lambda x: (x.score, -len(x.word), x.word))
        top_spam.sort(key=lambda x: (-x.score, -len(x.word), x.word))
        top_ham = top_ham[: p.top_words]
        top_spam = top_spam[: p.top_words]
        eta = sum(math.log(max(1 - x.score, 1e-12)) - math.log(max(x.score, 1e-12)) for x in top_ham + top_spam)
        prob = 1 / (1 + math.exp(min(eta, 700.0)))
        return Result(prob, hams >= SIGNIFICANT_HAMS, words, top_ham, top_spam)

    def classify(self, data: bytes, part: Part) -> Result:
        return self.classify_words(self.words_of(data, part))

    def classify_file(self, path: Path) -> Result:
        from mox.message import parse_message

        data = Path(path).read_bytes()
        return self.classify(data, parse_message(data))
