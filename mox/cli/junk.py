"""`mox junk train|check|test|analyze` (mox junk.go: a junk filter in files of its own, for trying
parameters on directories of ham and spam messages) and `mox retrain [account]` (a new junk
filter for accounts of the running mox, trained from the messages' junk flags)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import click

from mox.cli.common import dir_option


_BOOLS = ("-one-grams", "-two-grams", "-three-grams", "-debug", "-seed")


class _GoFlags(click.Command):
    """Boolean flags also as Go writes them: ``-two-grams=false`` (also ``--two-grams=0``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        out = []
        for a in args:
            name, eq, value = a.partition("=")
            flag = "-" + name.lstrip("-")
            if eq and flag in _BOOLS and name.startswith("-"):
                v = value.lower()
                if v in ("1", "t", "true"):
                    a = flag
                elif v in ("0", "f", "false"):
                    a = "-no-" + flag[1:]
            out.append(a)
        return super().parse_args(ctx, out)


def _junk_options(fn):
    # mox junk.go junkFlags; booleans take "-two-grams=false" as in Go.
    opts = [
        click.option("-one-grams/-no-one-grams", "one_grams", default=False,
                     help="use 1-grams, i.e. single words, for scoring"),
        click.option("-two-grams/-no-two-grams", "two_grams", default=True,
                     help="use 2-grams, i.e. word pairs, for scoring"),
        click.option("-three-grams/-no-three-grams", "three_grams", default=False,
                     help="use 3-grams, i.e. word triplets, for scoring"),
        click.option("-max-power", "max_power", type=float, default=0.05, help="maximum word power, e.g. min 0.05/max 0.95"),
        click.option("-ignore-words", "ignore_words", type=float, default=0.1,
                     help="ignore words with ham/spaminess within this distance from 0.5"),
        click.option("-top-words", "top_words", type=int, default=10,
                     help="number of top spam and number of top ham words from email to use"),
        click.option("-rare-words", "rare_words", type=int, default=1,
                     help="words are rare if encountered this number during training, and skipped for scoring"),
        click.option("-debug/-no-debug", "debug", default=False,
                     help="print debug logging when calculating spam probability"),
        click.option("-spam-threshold", "spam_threshold", type=float, default=0.95, help="probability where message is seen as spam"),
        click.option("-train-ratio", "train_ratio", type=float, default=0.5,
                     help="part of data to use for training versus analyzing (for analyze only)"),
        click.option("-sent-dir", "sent_dir", default="", help="directory with sent mails, for training"),
        click.option("-seed/-no-seed", "seed", default=False, help="seed prng before analysis"),
        click.option("-dbpath", "dbpath", default="filter.db", help="database file for ham/spam words"),
        click.option("-bloompath", "bloompath", default="filter.bloom", help="bloom filter for ignoring unique strings"),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _params(a: dict):
    from mox.junk import Params

    return Params(
        onegrams=a["one_grams"], twograms=a["two_grams"], threegrams=a["three_grams"], max_power=a["max_power"],
        top_words=a["top_words"], ignore_words=a["ignore_words"], rare_words=a["rare_words"],
    )  # fmt: skip


def _level(a: dict) -> None:
    from mox import mlog

    mlog.set_level("debug" if a["debug"] else "info", "junk")


def _list_dir(d: str) -> list[str]:
    try:
        return sorted(p.name for p in Path(d).iterdir())
    except OSError as e:
        raise click.ClickException(f'listing directory "{d}": {e.strerror or e}') from None


def _filter(a: dict, *, new: bool):
    from mox.junk import Filter, FilterError

    try:
        if new:
            return Filter.create(_params(a), Path(a["dbpath"]), Path(a["bloompath"]))
        return Filter.open(_params(a), Path(a["dbpath"]), Path(a["bloompath"]))
    except FilterError as e:
        raise click.ClickException(f"filter: {e}") from None


def _train_dirs(f, ham_dir: str, sent_dir: str, spam_dir: str, hams: list[str], sent: list[str], spams: list[str]) -> None:
    """mox TrainDirs: ham, sent (counted as ham) and spam messages, then save; logs the counts."""
    from mox import mlog

    t0 = time.monotonic()
    nham, ham_bad = f.train_files([Path(ham_dir) / n for n in hams], ham=True)
    tham = time.monotonic() - t0
    t0 = time.monotonic()
    nsent, sent_bad = f.train_files([Path(sent_dir) / n for n in sent], ham=True) if sent_dir else (0, 0)
    tsent = time.monotonic() - t0
    t0 = time.monotonic()
    nspam, spam_bad = f.train_files([Path(spam_dir) / n for n in spams], ham=False)
    tspam = time.monotonic() - t0
    f.hams, f.spams = nham + nsent, nspam
    f._modified = True
    f.close()
    size = lambda p: f"{(p.stat().st_size if p.exists() else 0) / (1024 * 1024):.1f}mb"  # noqa: E731
    mlog.get_logger("junk").print(
        "training done", hams=nham, hamtime=f"{tham:.3f}s", hammalformed=ham_bad, sent=nsent, senttime=f"{tsent:.3f}s",
        sentmalformed=sent_bad, spams=nspam, spamtime=f"{tspam:.3f}s", spammalformed=spam_bad,
        dbsize=size(f.db_path), bloomsize=size(f.bloom_path),
    )  # fmt: skip


@click.group("junk")
def junk() -> None:
    """Train and try out junk filters on directories of ham and spam messages."""


@junk.command("train", cls=_GoFlags, help="Train a junk filter with messages from hamdir and spamdir.")
@_junk_options
@click.argument("hamdir")
@click.argument("spamdir")
def junk_train(hamdir: str, spamdir: str, **a) -> None:
    _level(a)
    f = _filter(a, new=True)
    sent = _list_dir(a["sent_dir"]) if a["sent_dir"] else []
    _train_dirs(f, hamdir, a["sent_dir"], spamdir, _list_dir(hamdir), sent, _list_dir(spamdir))


@junk.command(
    cls=_GoFlags, name="check", help="Check an email message against a junk filter, printing the probability of spam on a scale from 0 to 1."
)
@_junk_options
@click.argument("messagefile")
def junk_check(messagefile: str, **a) -> None:
    _level(a)
    f = _filter(a, new=False)
    try:
        r = f.classify_file(Path(messagefile))
    except OSError as e:
        raise click.ClickException(f"testing mail: {e.strerror or e}") from None
    finally:
        f.close()
    click.echo(f"{r.probability:.6f}, {'significant' if r.significant else 'not significant'}")


def _test(f, dir_: str, files: list[str], *, ham: bool, threshold: float) -> tuple[int, int, int]:
    ok = bad = malformed = 0
    for name in files:
        path = Path(dir_) / name
        try:
            r = f.classify_file(path)
        except OSError:
            malformed += 1
            continue
        if (ham and r.probability < threshold) or (not ham and r.probability > threshold):
            ok += 1
        else:
            bad += 1
        if ham and r.probability > threshold:
            click.echo(f'ham "{path}": {r.probability:.4f}')
        if not ham and r.probability < threshold:
            click.echo(f'spam "{path}": {r.probability:.4f}')
    return ok, bad, malformed


def _ratios(hok: int, hbad: int, sok: int, sbad: int) -> None:
    div = lambda a, b: a / b if b else float("nan")  # noqa: E731
    click.echo(f"specifity (true negatives, hams identified): {div(hok, hok + hbad):.6f}")
    click.echo(f"sensitivity (true positives, spams identified): {div(sok, sok + sbad):.6f}")
    click.echo(f"accuracy: {div(hok + sok, hok + hbad + sok + sbad):.6f}")


@junk.command(
    cls=_GoFlags, name="test", help="Check a directory with hams and one with spams against the junk filter, and report the success ratio."
)
@_junk_options
@click.argument("hamdir")
@click.argument("spamdir")
def junk_test(hamdir: str, spamdir: str, **a) -> None:
    _level(a)
    f = _filter(a, new=False)
    try:
        hok, hbad, _ = _test(f, hamdir, _list_dir(hamdir), ham=True, threshold=a["spam_threshold"])
        sok, sbad, _ = _test(f, spamdir, _list_dir(spamdir), ham=False, threshold=a["spam_threshold"])
    finally:
        f.close()
    click.echo(f"total ham, ok {hok}, bad {hbad}")
    click.echo(f"total spam, ok {sok}, bad {sbad}")
    _ratios(hok, hbad, sok, sbad)


@junk.command("analyze", cls=_GoFlags, help="""Analyze a directory with ham messages and one with spam messages.

A part of the messages is used for training, and remaining for testing. The messages are
shuffled, with optional random seed.""")
@_junk_options
@click.argument("hamdir")
@click.argument("spamdir")
def junk_analyze(hamdir: str, spamdir: str, **a) -> None:
    _level(a)
    f = _filter(a, new=True)
    hams, spams = _list_dir(hamdir), _list_dir(spamdir)
    rnd = random.Random(time.time_ns() if a["seed"] else 0)
    rnd.shuffle(hams)
    rnd.shuffle(spams)
    nham = int(a["train_ratio"] * len(hams))
    nspam = int(a["train_ratio"] * len(spams))
    sent = _list_dir(a["sent_dir"]) if a["sent_dir"] else []
    _train_dirs(f, hamdir, a["sent_dir"], spamdir, hams[:nham], sent, spams[:nspam])
    f = _filter(a, new=False)
    try:
        hok, hbad, hmal = _test(f, hamdir, hams[nham:], ham=True, threshold=a["spam_threshold"])
        sok, sbad, smal = _test(f, spamdir, spams[nspam:], ham=False, threshold=a["spam_threshold"])
    finally:
        f.close()
    click.echo(f"training done, nham {nham}, nsent {len(sent)}, nspam {nspam}")
    click.echo(f"total ham, ok {hok}, bad {hbad}, malformed {hmal}")
    click.echo(f"total spam, ok {sok}, bad {sbad}, malformed {smal}")
    _ratios(hok, hbad, sok, sbad)


@click.command("retrain", help="""Recreate and retrain the junk filter for the account or all accounts.

Useful after having made changes to the junk filter configuration, or if the implementation has
changed. Needs a running mox.""")
@dir_option
@click.argument("account", required=False, default="")
def retrain(dir_: Path | None, account: str) -> None:
    from mox.cli.common import ctl_client

    with ctl_client(dir_, timeout=None) as c:
        c.call("retrain", account)

