// AudioWorklet processors for the browser microphone and speaker (loaded from a Blob URL by widget.js).
//
// vl-capture:  the microphone at the context's rate -> 24 kHz mono PCM16 frames posted to the page.
// vl-playback: 24 kHz PCM16 chunks from the kernel -> a queue read at the context's rate; "clear" empties it
//              before the next render quantum.
// Both convert rates with the same band-limited (windowed-sinc) resampler.

const PHASES = 512; // kernel table resolution between two input samples
const HALF_TAPS = 16; // input samples used on each side of an output sample

class Resampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate; // input samples per output sample
    const cutoff = Math.min(1, outRate / inRate) * 0.92; // of the input Nyquist, leaving room for the window
    this.table = new Float32Array((PHASES + 1) * 2 * HALF_TAPS);
    for (let phase = 0; phase <= PHASES; phase++) {
      for (let tap = 0; tap < 2 * HALF_TAPS; tap++) {
        const x = tap - HALF_TAPS + 1 - phase / PHASES; // distance from the output position, in input samples
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * cutoff * x) / (Math.PI * cutoff * x);
        const window = 0.5 * (1 + Math.cos((Math.PI * x) / HALF_TAPS));
        this.table[phase * 2 * HALF_TAPS + tap] = cutoff * sinc * window;
      }
    }
    this.reset();
  }

  reset() {
    this.input = new Float32Array(4096);
    this.length = HALF_TAPS; // starts with zeros as history
    this.position = HALF_TAPS - 1; // where the next output sample sits, in input samples
    this.input.fill(0);
  }

  push(samples) {
    if (this.length + samples.length > this.input.length) this.compact(samples.length);
    this.input.set(samples, this.length);
    this.length += samples.length;
  }

  // Drops input no output sample needs any more, growing the buffer if `extra` more samples would not fit.
  compact(extra) {
    const keepFrom = Math.max(0, Math.floor(this.position) - HALF_TAPS + 1);
    const kept = this.input.subarray(keepFrom, this.length);
    const needed = kept.length + extra;
    const target = needed > this.input.length ? new Float32Array(2 * needed) : this.input;
    target.set(kept, 0); // same-buffer overlap is allowed: set() copies the source first
    this.input = target;
    this.length = kept.length;
    this.position -= keepFrom;
  }

  // How many output samples can be made from what was pushed so far.
  available() {
    const last = this.length - HALF_TAPS - 1; // the highest base index whose window is all pushed
    return Math.max(0, Math.ceil((last + 1 - this.position) / this.step));
  }

  // Writes up to out.length samples into out, returns how many.
  pull(out, count = out.length) {
    const n = Math.min(count, this.available());
    const width = 2 * HALF_TAPS;
    for (let i = 0; i < n; i++) {
      const base = Math.floor(this.position);
      const phase = Math.round((this.position - base) * PHASES);
      const weights = phase * width;
      let sum = 0;
      const start = base - HALF_TAPS + 1;
      for (let tap = 0; tap < width; tap++) sum += this.input[start + tap] * this.table[weights + tap];
      out[i] = sum;
      this.position += this.step;
    }
    return n;
  }
}

// Microphone: mono mixdown -> 24 kHz -> PCM16 frames of `frameSamples`, posted with their RMS.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetRate, frameSamples } = options.processorOptions;
    this.resampler = new Resampler(sampleRate, targetRate);
    this.frameSamples = frameSamples;
    this.frame = new Int16Array(frameSamples);
    this.filled = 0;
    this.squares = 0;
    this.mono = new Float32Array(128);
    this.converted = new Float32Array(256);
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data && event.data.type === 'stop') this.running = false;
    };
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length > 0) {
      const frames = channels[0].length;
      if (this.mono.length < frames) this.mono = new Float32Array(frames);
      const mono = this.mono.subarray(0, frames);
      mono.set(channels[0]);
      for (let c = 1; c < channels.length; c++) for (let i = 0; i < frames; i++) mono[i] += channels[c][i];
      if (channels.length > 1) for (let i = 0; i < frames; i++) mono[i] /= channels.length;
      this.resampler.push(mono);
      let made;
      while ((made = this.resampler.pull(this.converted)) > 0) this.collect(this.converted, made);
    }
    return this.running;
  }

  collect(samples, count) {
    for (let i = 0; i < count; i++) {
      const value = Math.max(-1, Math.min(1, samples[i]));
      this.squares += value * value;
      this.frame[this.filled++] = Math.round(value < 0 ? value * 32768 : value * 32767);
      if (this.filled === this.frameSamples) {
        const rms = Math.sqrt(this.squares / this.frameSamples);
        this.port.postMessage({ pcm: this.frame.buffer, rms }, [this.frame.buffer]);
        this.frame = new Int16Array(this.frameSamples);
        this.filled = 0;
        this.squares = 0;
      }
    }
  }
}

// Speaker: a queue of 24 kHz chunks, resampled to the context's rate. Reports levels, playing/idle changes,
// and (when tracing) when each chunk's first sample was rendered.
class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { sourceRate, reportEvery } = options.processorOptions;
    this.resampler = new Resampler(sourceRate, sampleRate);
    this.chunks = []; // {samples: Float32Array, offset, seq}
    this.queued = 0; // source samples waiting
    this.fed = new Float32Array(64);
    this.received = 0;
    this.played = 0;
    this.playing = false;
    this.trace = false;
    this.squares = 0;
    this.counted = 0;
    this.reportFrames = Math.round((sampleRate * reportEvery) / 1000);
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  onMessage(message) {
    if (message.type === 'audio') {
      const pcm = new Int16Array(message.pcm);
      const samples = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
      this.chunks.push({ samples, offset: 0, seq: message.seq });
      this.queued += samples.length;
      this.received += samples.length;
    } else if (message.type === 'clear') {
      const dropped = this.queued;
      this.chunks = [];
      this.queued = 0;
      this.resampler.reset();
      this.port.postMessage({ type: 'flushed', dropped, seq: message.seq, at: currentTime });
      this.setPlaying(false);
    } else if (message.type === 'trace') {
      this.trace = Boolean(message.on);
    }
  }

  // Feeds the resampler from the queue (or silence when it is empty) until it can make `needed` samples.
  feed(needed) {
    while (this.resampler.available() < needed) {
      const chunk = this.chunks[0];
      if (!chunk) {
        this.fed.fill(0);
        this.resampler.push(this.fed);
        continue;
      }
      if (chunk.offset === 0 && this.trace) this.port.postMessage({ type: 'started', seq: chunk.seq, at: currentTime });
      const take = Math.min(this.fed.length, chunk.samples.length - chunk.offset);
      this.resampler.push(chunk.samples.subarray(chunk.offset, chunk.offset + take));
      chunk.offset += take;
      this.queued -= take;
      this.played += take;
      if (chunk.offset === chunk.samples.length) this.chunks.shift();
    }
  }

  process(_inputs, outputs) {
    const channels = outputs[0];
    const out = channels[0];
    const busy = this.queued > 0;
    this.feed(out.length);
    this.resampler.pull(out, out.length);
    for (let c = 1; c < channels.length; c++) channels[c].set(out);
    for (let i = 0; i < out.length; i++) this.squares += out[i] * out[i];
    this.counted += out.length;
    if (busy !== this.playing) this.setPlaying(busy);
    if (this.counted >= this.reportFrames) {
      if (this.playing || this.squares > 0) this.report();
      this.squares = 0;
      this.counted = 0;
    }
    return true;
  }

  setPlaying(playing) {
    this.playing = playing;
    this.report();
  }

  report() {
    const rms = this.counted ? Math.sqrt(this.squares / this.counted) : 0;
    this.port.postMessage({
      type: 'level',
      rms,
      playing: this.playing,
      received: this.received,
      played: this.played,
      queued: this.queued,
    });
  }
}

registerProcessor('vl-capture', CaptureProcessor);
registerProcessor('vl-playback', PlaybackProcessor);
