// The page side of voicelive_lab's BrowserAudio widget: one PageAudio per widget model and page. It owns the
// AudioContext, the microphone capture and the playback worklet, and talks to the kernel over the widget's comm.
// Frames and reply audio travel as binary buffers.
//
// Page -> kernel (model.send): hello, heartbeat, bye, status {device, state, message}, frame (+PCM16 buffer),
//   output {playing, level, received, played, seq}, flushed, started (tracing only).
// Kernel -> page: traits owner / capture / playback / trace / frame_ms / _worklet; custom messages
//   audio (+PCM16 buffer) and clear.

const SOURCE_RATE = 24000; // what the kernel sends and expects: 24 kHz mono PCM16
const HEARTBEAT_MS = 1000;
const OUTPUT_REPORT_MS = 100;
const MAX_PENDING_CHUNKS = 200; // reply audio that arrives before the player is ready

// Reachable from the browser's console and from tests: key -> PageAudio.
const registry = (globalThis.voiceliveLabBrowserAudio ??= new Map());

class PageAudio {
  constructor(model) {
    this.model = model;
    this.page = randomId();
    this.views = new Set();
    this.mic = { state: 'off', message: '' };
    this.output = { state: 'off', message: '' };
    this.stats = { framesSent: 0, chunksReceived: 0, lastSeq: 0, received: 0, played: 0, flushes: 0,
      flushedSamples: 0, micLevel: 0, outputLevel: 0, playing: false };
    this.context = null;
    this.modules = null;
    this.captureRun = 0; // bumped by every start/stop, so a stale async start gives up
    this.playbackRun = 0;
    this.capture = null; // {stream, source, node}
    this.player = null;
    this.pending = [];
    this.arrivals = new Map(); // tracing: reply chunk seq -> when it reached the page
    this.lastOutputReport = 0;
    this.reportedPlaying = false;
    this.onCustom = (message, buffers) => this.receive(message, buffers || []);
    this.onPageHide = () => this.send({ kind: 'bye' });
    model.on('msg:custom', this.onCustom);
    for (const name of ['owner', 'capture', 'playback', 'trace']) model.on(`change:${name}`, () => this.apply());
    globalThis.addEventListener('pagehide', this.onPageHide);
    this.heartbeat = setInterval(() => this.send({ kind: 'heartbeat' }), HEARTBEAT_MS);
    const problem = pageProblem();
    this.send({
      kind: 'hello',
      problem,
      origin: location.origin,
      secure: Boolean(globalThis.isSecureContext),
      user_agent: navigator.userAgent,
    });
    this.apply();
  }

  get owned() {
    return this.model.get('owner') === this.page;
  }

  send(content, buffers) {
    try {
      this.model.send({ ...content, page: this.page }, undefined, buffers);
    } catch (error) {
      console.warn('voicelive-lab browser audio: could not reach the kernel', error);
    }
  }

  setStatus(device, state, message = '') {
    const slot = device === 'mic' ? this.mic : this.output;
    if (slot.state === state && slot.message === message) return;
    slot.state = state;
    slot.message = message;
    if (this.owned) this.send({ kind: 'status', device, state, message });
    this.refresh();
  }

  // Brings capture and playback in line with what the kernel asks for (traits), for the owning page only.
  apply() {
    const owned = this.owned;
    const wantCapture = owned && this.model.get('capture');
    const wantPlayback = owned && this.model.get('playback');
    if (wantCapture && !this.capture && this.mic.state !== 'starting') this.startCapture();
    if (!wantCapture && (this.capture || this.mic.state === 'starting')) this.stopCapture();
    if (!wantCapture && !PROBLEMS.has(this.mic.state)) this.setStatus('mic', 'off');
    if (wantPlayback && !this.player && this.output.state !== 'starting') this.startPlayback();
    if (!wantPlayback && (this.player || this.output.state === 'starting')) this.stopPlayback();
    if (this.player) this.player.port.postMessage({ type: 'trace', on: Boolean(this.model.get('trace')) });
    this.refresh();
  }

  async audioContext() {
    if (!this.context) {
      this.context = new AudioContext({ latencyHint: 'interactive' });
      const url = URL.createObjectURL(new Blob([this.model.get('_worklet')], { type: 'text/javascript' }));
      this.modules = this.context.audioWorklet.addModule(url).finally(() => URL.revokeObjectURL(url));
      this.context.onstatechange = () => this.contextChanged();
    }
    await this.modules;
    if (this.context.state === 'suspended') {
      // Without a click on the page first, resume() waits for one: do not wait for it here.
      await Promise.race([this.context.resume().catch(() => {}), new Promise((done) => setTimeout(done, 300))]);
    }
    return this.context;
  }

  contextChanged() {
    const running = this.context && this.context.state === 'running';
    const hint = 'The browser holds sound back until you click the page: click "Turn on sound".';
    if (this.player) this.setStatus('output', running ? (this.stats.playing ? 'playing' : 'ready') : 'suspended',
      running ? '' : hint);
    if (this.capture) this.setStatus('mic', running ? 'listening' : 'suspended', running ? this.capture.label : hint);
  }

  async startCapture() {
    const run = ++this.captureRun;
    const problem = pageProblem();
    if (problem) return this.setStatus('mic', ...problem);
    this.setStatus('mic', 'starting', 'Asking the browser for the microphone…');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (error) {
      if (run === this.captureRun) this.setStatus('mic', ...describeMicError(error));
      return;
    }
    const stop = () => stream.getTracks().forEach((track) => track.stop());
    try {
      const context = await this.audioContext();
      if (run !== this.captureRun) return stop();
      const source = context.createMediaStreamSource(stream);
      const frameSamples = Math.round((SOURCE_RATE * this.model.get('frame_ms')) / 1000);
      const node = new AudioWorkletNode(context, 'vl-capture', {
        numberOfInputs: 1,
        numberOfOutputs: 0,
        processorOptions: { targetRate: SOURCE_RATE, frameSamples },
      });
      node.port.onmessage = (event) => this.captured(run, event.data);
      source.connect(node);
      const [track] = stream.getAudioTracks();
      track.onended = () => {
        if (run === this.captureRun) {
          this.stopCapture();
          this.setStatus('mic', 'ended', 'The microphone stopped (unplugged, or the permission was withdrawn).');
        }
      };
      this.capture = { stream, source, node, label: `Listening through ${track.label || 'the microphone'}.` };
      this.contextChanged();
    } catch (error) {
      stop();
      if (run === this.captureRun) this.setStatus('mic', 'error', `The microphone could not start: ${error}`);
    }
  }

  stopCapture() {
    this.captureRun++;
    const capture = this.capture;
    this.capture = null;
    if (capture) {
      capture.node.port.postMessage({ type: 'stop' });
      capture.source.disconnect();
      capture.stream.getTracks().forEach((track) => track.stop());
    }
    if (this.mic.state === 'starting' || this.mic.state === 'listening' || this.mic.state === 'suspended') {
      this.setStatus('mic', 'off');
    }
    this.stats.micLevel = 0;
  }

  captured(run, data) {
    if (run !== this.captureRun || !this.owned) return;
    this.stats.framesSent++;
    this.stats.micLevel = data.rms;
    this.send({ kind: 'frame', seq: this.stats.framesSent, at: epochMs(), rms: data.rms }, [data.pcm]);
  }

  async startPlayback() {
    const run = ++this.playbackRun;
    this.setStatus('output', 'starting');
    try {
      const context = await this.audioContext();
      if (run !== this.playbackRun) return;
      const player = new AudioWorkletNode(context, 'vl-playback', {
        numberOfInputs: 0,
        numberOfOutputs: 1,
        outputChannelCount: [1],
        processorOptions: { sourceRate: SOURCE_RATE, reportEvery: OUTPUT_REPORT_MS },
      });
      player.port.onmessage = (event) => this.fromPlayer(event.data);
      player.connect(context.destination);
      player.port.postMessage({ type: 'trace', on: Boolean(this.model.get('trace')) });
      this.player = player;
      for (const chunk of this.pending.splice(0)) player.port.postMessage(chunk, [chunk.pcm]);
      this.contextChanged();
    } catch (error) {
      if (run === this.playbackRun) this.setStatus('output', 'error', `The page cannot play sound: ${error}`);
    }
  }

  stopPlayback() {
    this.playbackRun++;
    const player = this.player;
    this.player = null;
    this.pending = [];
    if (player) {
      player.port.postMessage({ type: 'clear' });
      player.disconnect();
    }
    this.stats.playing = false;
    this.stats.outputLevel = 0;
    if (!PROBLEMS.has(this.output.state)) this.setStatus('output', 'off');
    this.reportOutput(true);
  }

  receive(message, buffers) {
    if (!message || !this.owned) return;
    if (message.kind === 'audio' && buffers.length) {
      const view = buffers[0];
      const start = view.byteOffset || 0;
      const pcm = (view.buffer || view).slice(start, start + view.byteLength);
      const chunk = { type: 'audio', pcm, seq: message.seq };
      this.stats.chunksReceived++;
      this.stats.lastSeq = message.seq;
      if (this.model.get('trace')) this.arrivals.set(message.seq, epochMs());
      if (this.player) this.player.port.postMessage(chunk, [pcm]);
      else if (this.pending.length < MAX_PENDING_CHUNKS) this.pending.push(chunk);
    } else if (message.kind === 'clear') {
      this.pending = [];
      this.arrivals.clear();
      if (this.player) this.player.port.postMessage({ type: 'clear', seq: message.seq });
    }
  }

  fromPlayer(data) {
    if (data.type === 'level') {
      const changed = data.playing !== this.stats.playing;
      Object.assign(this.stats, {
        outputLevel: data.rms,
        playing: data.playing,
        received: data.received,
        played: data.played,
      });
      if (changed) this.contextChanged();
      this.reportOutput(changed);
    } else if (data.type === 'flushed') {
      this.stats.flushes++;
      this.stats.flushedSamples += data.dropped;
      this.send({ kind: 'flushed', seq: data.seq, dropped: data.dropped, at: epochMs() });
    } else if (data.type === 'started' && this.model.get('trace')) {
      this.send({ kind: 'started', seq: data.seq, at: epochMs(), arrived: this.arrivals.get(data.seq) });
      this.arrivals.delete(data.seq);
    }
  }

  // Playing/idle changes go to the kernel at once, levels at most every OUTPUT_REPORT_MS.
  reportOutput(now) {
    const time = performance.now();
    if (!now && time - this.lastOutputReport < OUTPUT_REPORT_MS) return;
    this.lastOutputReport = time;
    const { playing, outputLevel, received, played, lastSeq } = this.stats;
    this.send({ kind: 'output', playing, level: outputLevel, received, played, seq: lastSeq });
  }

  statusLine() {
    const owner = this.model.get('owner');
    if (!owner) return ['Connecting to the kernel…', false];
    if (owner !== this.page) return ['This audio is in use in another tab or window of this notebook.', true];
    const part = (name, slot) => `${name}: ${LABELS[slot.state] || slot.state.replace('-', ' ')}`;
    const line = `${part('Microphone', this.mic)} · ${part('Speaker', this.output)}`;
    const failing = [this.mic, this.output].find((slot) => PROBLEMS.has(slot.state));
    const note = failing || [this.mic, this.output].find((slot) => slot.state === 'suspended');
    return [note ? `${line}. ${note.message}` : line, Boolean(failing)];
  }

  refresh() {
    for (const view of this.views) view();
  }

  dispose() {
    clearInterval(this.heartbeat);
    globalThis.removeEventListener('pagehide', this.onPageHide);
    this.model.off('msg:custom', this.onCustom);
    this.stopCapture();
    this.stopPlayback();
    if (this.context) this.context.close().catch(() => {});
    registry.delete(this.model.get('_key'));
  }
}
