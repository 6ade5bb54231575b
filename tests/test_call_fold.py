"""The one-event step equals the full fold, whatever the events and their order of arrival.

record_call_event applies an event that sorts after every stored one with `call_fold.step` and
refolds from all events otherwise; here random calls (kinds, times with ties, extensions,
durations, recordings, hidden callers) arrive in random orders, and at every arrival the step,
when it decides, must give what the refold of everything stored gives from the same row. The
database end of the rule (redelivered and shuffled webhooks give the same calls) is
tests/test_replay_order.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.inbound import call_fold
from callcenter.inbound.call_fold import Fact

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night Europe's clocks go forward
KINDS = ("ringing", "answered", "transferred", "ended", "missed", "recording")

event_data = st.fixed_dictionaries({
    "caller": st.sampled_from((None, "+79160000001", "+79160000002")),
    "dialed": st.sampled_from((None, "+74950000001")),
    "extension": st.sampled_from((None, "", "101", "102")),
    "duration": st.sampled_from((None, 0, 42, -1)),
    "recording_url": st.sampled_from((None, "https://rec.example/1", "https://rec.example/2")),
})
calls = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 6), event_data),
                 min_size=1, max_size=8)


def arrive(direction: str, first_caller: str | None,
           arrivals: list[tuple[str, int, dict[str, object]]]) -> None:
    """Arrivals in the order given, ids in that order (as the database hands them out)."""
    stored: list[Fact] = []
    state: call_fold.CallState | None = None
    for fact_id, (kind, second, data) in enumerate(arrivals, start=1):
        fact = Fact(kind, T0 + timedelta(seconds=second), fact_id, data)
        stored.append(fact)
        if state is None:
            state = call_fold.first(direction, fact, first_caller, "+74950000001")
            continue
        stepped = call_fold.step(direction, state, fact)
        refolded = call_fold.fold(direction, state, stored)
        if stepped is not None:
            assert stepped == refolded, stored
        else:  # only an event earlier than the latest, or a first answer after the end
            assert fact.occurred_at < state.last_event_at or (
                kind == "answered" and state.answered_at is None and state.ended_at is not None)
        state = refolded
        assert state.last_event_at == max(f.occurred_at for f in stored)


@settings(max_examples=400, deadline=None)
@given(calls, st.sampled_from(("inbound", "outbound")), st.sampled_from((None, "+79160000003")),
       st.randoms(use_true_random=False))
def test_step_and_fold_agree_in_any_order(events, direction, first_caller, rng) -> None:
    arrive(direction, first_caller, events)
    shuffled = list(events)
    rng.shuffle(shuffled)
    arrive(direction, first_caller, shuffled)


@settings(max_examples=200, deadline=None)
@given(calls, st.sampled_from(("inbound", "outbound")))
def test_in_order_arrivals_never_need_the_refold(events, direction) -> None:
    """In time order the step alone decides, except a first answer after the end."""
    ordered = sorted(events, key=lambda e: e[1])
    state = None
    ended = False
    for fact_id, (kind, second, data) in enumerate(ordered, start=1):
        fact = Fact(kind, T0 + timedelta(seconds=second), fact_id, data)
        if state is None:
            state = call_fold.first(direction, fact, None, None)
        else:
            stepped = call_fold.step(direction, state, fact)
            if kind == "answered" and state.answered_at is None and ended:
                assert stepped is None
                return
            assert stepped is not None
            state = stepped
        ended = ended or kind in call_fold.END_KINDS


def test_an_earlier_event_is_refolded() -> None:
    ended = Fact("ended", T0 + timedelta(seconds=60), 1, {"duration": None})
    state = call_fold.first("inbound", ended, "+79160000001", None)
    answered = Fact("answered", T0 + timedelta(seconds=10), 2, {"extension": "101"})
    assert call_fold.step("inbound", state, answered) is None
    refolded = call_fold.fold("inbound", state, [ended, answered])
    assert (refolded.status, refolded.duration, refolded.extension) == ("completed", 50, "101")
