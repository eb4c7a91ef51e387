from kflow.states import TERMINAL_STATE_TYPES, StateType


def test_terminal_states() -> None:
    assert StateType.RUNNING not in TERMINAL_STATE_TYPES
    assert StateType.CRASHED in TERMINAL_STATE_TYPES
