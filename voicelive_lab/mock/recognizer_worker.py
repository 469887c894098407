"""The recognizer's child process: loads pocketsphinx once, then answers pickled requests on stdin/stdout.

Requests are ``("ready",)`` and ``("transcribe", samples, sample_rate, hints)``; answers are ``("ok", value)``
or ``("error", message)``. It ends quietly when its parent closes the pipes or goes away; Ctrl+C in the
terminal is the parent's to handle.
"""

from __future__ import annotations

import pickle
import signal
import sys
from typing import Any


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers may reach the parent's pipe
    try:
        from voicelive_lab.mock.recognizer import PocketsphinxRecognizer

        recognizer: Any = PocketsphinxRecognizer()
        failure = None
    except Exception as error:  # reported on the first request, so the parent can fall back
        recognizer, failure = None, f"pocketsphinx could not load: {error}"
    while True:
        try:
            request = pickle.load(requests)
        except (EOFError, OSError, pickle.UnpicklingError):
            return
        if recognizer is None:
            answer: tuple[str, Any] = ("error", failure)
        elif request[0] == "ready":
            answer = ("ok", recognizer.name)
        else:
            try:
                answer = ("ok", recognizer.transcribe(*request[1:]))
            except Exception as error:
                answer = ("error", f"{type(error).__name__}: {error}")
        try:
            pickle.dump(answer, answers)
            answers.flush()
        except OSError:  # the parent is gone
            return


if __name__ == "__main__":
    main()
