"""devstack's supervisor: an exited process is logged with its status and started again after a
back-off that doubles up to 30 s and starts over once a process stayed up a minute."""

import signal
import sys

from devstack.supervise import Program, describe_exit

EXIT_3 = [sys.executable, "-c", "raise SystemExit(3)"]


def test_exit_statuses_name_the_signal():
    assert describe_exit(3) == "exit 3"
    assert describe_exit(-signal.SIGKILL) == "exit -9 SIGKILL"


def test_restarts_back_off_then_start_over(capsys):
    program = Program("crasher", EXIT_3, {})
    program.start()
    program.process.wait()
    delays = []
    now = program.started_at
    for _ in range(7):
        assert program.tend(now) is False  # notices the exit, schedules the restart
        delays.append(program.due - now)
        now = program.due
        assert program.tend(now) is True  # due: started again
        program.process.wait()
        program.started_at = now
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert "restarting crasher (exit 3) in 30.0 s" in capsys.readouterr().err
    program.started_at = now - 60  # it stayed up a minute
    program.tend(now)
    assert program.due - now == 1.0
