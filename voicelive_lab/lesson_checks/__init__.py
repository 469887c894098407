"""Checks for the exercises of the lessons beyond the lab (05 onwards), one module per lesson.

Each check runs the learner's work against a private practice server or calls it with a deadline
(:func:`voicelive_lab.learner_calls.call_learner`), and answers with the verdicts of :mod:`voicelive_lab.verdicts`:
a :class:`~voicelive_lab.verdicts.CheckPassed`, or a :class:`~voicelive_lab.verdicts.CheckFailed` that says what
was expected, what happened, the learner's own line and the fix. A check never passes what it could not see work.
"""
