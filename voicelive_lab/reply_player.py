"""ReplyPlayer: a spoken reply played in the notebook page, its words lit up one by one as they are heard.

A voice UI shows captions that follow the voice: it needs the reply's audio and, for each word, when it starts
and ends in that audio (Voice Live's word timestamps). This widget is that UI in miniature: an ``<audio>``
player and the words of the reply; while it plays (or when you seek, or click a word), the word whose time
span holds the playback position is highlighted and the words already said are dimmed.

Without a front end (nbval, a plain-text viewer, a notebook whose widget state was not saved) the widget shows
its text: the title, the length of the audio and each word with its times. That text depends only on the
audio's length and the words, so a stored notebook reproduces it exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import anywidget
import traitlets

from .audio.pcm import SAMPLE_RATE, SAMPLE_WIDTH, write_wav

Word = tuple[str, float, float]

#: The page side, one ES module (anywidget loads it from this string; no files to ship).
ESM = """
function wordAt(words, ms) {
  for (let i = 0; i < words.length; i++) {
    if (words[i][1] <= ms && ms < words[i][2]) return i;
  }
  return -1;
}

function render({ model, el }) {
  const root = document.createElement('div');
  root.className = 'vl-reply';
  const title = document.createElement('div');
  title.className = 'vl-reply-title';
  const audio = document.createElement('audio');
  audio.controls = true;
  audio.preload = 'auto';
  const text = document.createElement('div');
  text.className = 'vl-reply-words';
  root.append(title, audio, text);
  el.append(root);

  let url = null;
  let spans = [];
  let words = [];
  let frame = 0;

  function loadAudio() {
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(new Blob([model.get('wav')], { type: 'audio/wav' }));
    audio.src = url;
  }

  function highlight() {
    const ms = audio.currentTime * 1000;
    const now = wordAt(words, ms);
    spans.forEach((span, i) => {
      span.classList.toggle('vl-word-now', i === now);
      span.classList.toggle('vl-word-said', i !== now && words[i][2] <= ms);
    });
    root.dataset.word = String(now);
    root.dataset.ms = String(Math.round(ms));
  }

  function showWords() {
    words = model.get('words') || [];
    text.replaceChildren();
    spans = words.map(([word, start, end]) => {
      const span = document.createElement('span');
      span.className = 'vl-word';
      span.textContent = word;
      span.title = `${(start / 1000).toFixed(2)}-${(end / 1000).toFixed(2)} s`;
      span.addEventListener('click', () => {
        audio.currentTime = start / 1000;
        highlight();
      });
      text.append(span, ' ');
      return span;
    });
    if (!words.length) text.textContent = model.get('transcript');
    highlight();
  }

  function follow() {
    highlight();
    if (!audio.paused) frame = requestAnimationFrame(follow);
  }

  title.textContent = model.get('title');
  audio.addEventListener('play', () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(follow);
  });
  for (const name of ['pause', 'ended', 'seeked', 'timeupdate']) audio.addEventListener(name, highlight);
  model.on('change:wav', loadAudio);
  model.on('change:words', showWords);
  model.on('change:transcript', showWords);
  model.on('change:title', () => (title.textContent = model.get('title')));
  loadAudio();
  showWords();
  return () => {
    cancelAnimationFrame(frame);
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
"""

CSS = """
.vl-reply {
  display: flex;
  flex-direction: column;
  gap: 4px;
  padding: 6px 8px;
  border: 1px solid var(--jp-border-color2, #ddd);
  border-radius: 4px;
  font-size: var(--jp-content-font-size1, 14px);
  color: var(--jp-content-font-color1, #222);
}
.vl-reply-title {
  font-weight: 600;
}
.vl-reply audio {
  width: 100%;
  max-width: 480px;
  height: 32px;
}
.vl-reply-words {
  line-height: 1.8;
}
.vl-word {
  padding: 1px 2px;
  border-radius: 3px;
  cursor: pointer;
}
.vl-word-said {
  color: var(--jp-content-font-color3, #888);
}
.vl-word-now {
  background: var(--jp-brand-color2, #90caf9);
  color: var(--jp-content-font-color0, #000);
}
"""


class ReplyPlayer(anywidget.AnyWidget):
    """Play ``pcm`` (mono PCM16) in the page; highlight each of ``words`` (``(word, start_ms, end_ms)``) in turn.

    With no words, the player shows ``transcript`` (if given) as plain text under the audio."""

    _esm = ESM
    _css = CSS
    wav = traitlets.Bytes(b"").tag(sync=True)
    words: traitlets.List[list[Any]] = traitlets.List().tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    transcript = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        pcm: bytes,
        words: Iterable[Sequence[object]] = (),
        *,
        title: str = "",
        transcript: str = "",
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        timed = [_checked_word(index, entry) for index, entry in enumerate(words, start=1)]
        super().__init__(wav=write_wav(pcm, sample_rate), words=timed, title=title, transcript=transcript)
        self.duration_ms = len(pcm) // SAMPLE_WIDTH * 1000 / sample_rate

    def __repr__(self) -> str:
        heading = " · ".join(
            part
            for part in ("ReplyPlayer", self.title, f"{self.duration_ms / 1000:.2f} s of audio", self._counted())
            if part
        )
        if not self.words:
            return heading + (f"\n  {self.transcript}" if self.transcript else "")
        width = max(len(f"{end / 1000:.2f}") for _, _, end in self.words)
        lines = [f"  {start / 1000:>{width}.2f}-{end / 1000:<{width}.2f} s  {word}" for word, start, end in self.words]
        return "\n".join([heading, *lines])

    def _counted(self) -> str:
        return f"{len(self.words)} timed words" if self.words else ""


def _checked_word(index: int, entry: Sequence[object]) -> list[object]:
    """One ``(word, start_ms, end_ms)`` as the page reads it, or a ValueError naming the entry."""
    if isinstance(entry, (str, bytes)) or not isinstance(entry, Sequence) or len(entry) != 3:
        raise ValueError(f"word {index} must be (word, start_ms, end_ms), not {entry!r}")
    word, start, end = entry
    numbers = all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (start, end))
    if not isinstance(word, str) or not numbers or not 0 <= start <= end:  # type: ignore[operator]
        raise ValueError(f"word {index} must be (text, start_ms, end_ms) with 0 <= start_ms <= end_ms, not {entry!r}")
    return [word, start, end]
