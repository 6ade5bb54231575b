"""What a patient's text says: yes, no, stop, start, or something a person must read.

Only a whole reply counts, the way carriers read STOP ("Stop" yes, "stop it please" no): the
text is trimmed, lower-cased, ё read as е, and stripped of punctuation and spaces at its ends.
Anything else is never guessed: it goes to the desk.
"""

from __future__ import annotations

import enum
import re
import unicodedata


class Reading(enum.StrEnum):
    CONFIRM = "confirm"
    DECLINE = "decline"
    OPT_OUT = "opt_out"  # no more texts
    OPT_OUT_ALL = "opt_out_all"  # no texts and no calls
    OPT_IN = "opt_in"
    RATING = "rating"  # a digit 1-5 answering the rating question (read in context, not here)
    UNKNOWN = "unknown"


CONFIRM = frozenset({
    "да", "1", "ок", "ok", "okay", "yes", "y", "yep", "sure", "подтверждаю", "да приду", "приду",
    "буду", "да буду", "конечно", "是", "是的", "好", "好的", "确认", "可以", "会来", "对",
    "👍", "👌", "✅", "✔", "✔️", "🙂", "😊", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "❤", "❤️", "+",
})
DECLINE = frozenset({
    "нет", "2", "no", "n", "не приду", "не смогу", "не получится", "не могу", "отмена",
    "отменить", "отмените", "不", "不是", "不去", "不来", "来不了", "去不了", "取消",
    "👎", "❌", "👎🏻", "👎🏼", "👎🏽", "👎🏾", "👎🏿", "-",
})
# Carriers' and Twilio's own opt-out words, and the Russian and Chinese ones.
OPT_OUT = frozenset({
    "stop", "unsubscribe", "end", "quit", "revoke", "optout", "cancel", "стоп", "отписаться",
    "отпишите", "не присылайте", "退订", "取消订阅", "停止",
})
OPT_OUT_ALL = frozenset({"stopall", "stop all", "не звоните", "не звоните и не пишите", "勿扰"})
OPT_IN = frozenset({"start", "unstop", "старт", "订阅"})
_EDGES = re.compile(r"^[\s\W_]+|[\s\W_]+$", re.UNICODE)


def normalize(body: str) -> str:
    text = unicodedata.normalize("NFC", body).strip().casefold().replace("ё", "е")
    text = re.sub(r"\s+", " ", text)
    stripped = _EDGES.sub("", text)
    # A reply made only of symbols ("👍", "+") keeps them: they are the answer.
    return stripped or text


def interpret(body: str) -> Reading:
    text = normalize(body)
    for words, reading in ((OPT_OUT_ALL, Reading.OPT_OUT_ALL), (OPT_OUT, Reading.OPT_OUT),
                           (OPT_IN, Reading.OPT_IN), (CONFIRM, Reading.CONFIRM),
                           (DECLINE, Reading.DECLINE)):
        if text in words:
            return reading
    return Reading.UNKNOWN
