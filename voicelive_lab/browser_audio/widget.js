// The BrowserAudio view: a status line, a "Turn on sound" button when the browser holds sound back, and level
// meters; the anywidget entry point. Last part of the ESM (after page_checks.js and page_audio.js).

const METER_MS = 100;

function meter(label) {
  const row = document.createElement('div');
  row.className = 'vl-ba-meter';
  const name = document.createElement('span');
  name.textContent = label;
  const bar = document.createElement('div');
  bar.className = 'vl-ba-bar';
  const fill = document.createElement('div');
  fill.className = 'vl-ba-fill';
  bar.append(fill);
  row.append(name, bar);
  return [row, fill];
}

// Level (RMS 0..1) on a dB scale from -60 dB to 0 dB, as a percentage.
const percent = (level) => (level > 0.001 ? Math.min(100, Math.max(0, ((20 * Math.log10(level) + 60) / 60) * 100)) : 0);

export default {
  initialize({ model }) {
    const audio = new PageAudio(model);
    registry.set(model.get('_key'), audio);
    return () => audio.dispose();
  },

  render({ model, el }) {
    const audio = registry.get(model.get('_key'));
    const root = document.createElement('div');
    root.className = 'vl-browser-audio';
    const title = document.createElement('strong');
    title.textContent = 'Browser audio';
    const status = document.createElement('div');
    status.className = 'vl-ba-status';
    const enable = document.createElement('button');
    enable.className = 'vl-ba-enable';
    enable.textContent = 'Turn on sound';
    enable.hidden = true;
    enable.onclick = () => audio && audio.context && audio.context.resume();
    const [micRow, micFill] = meter('mic');
    const [outRow, outFill] = meter('speaker');
    const meters = document.createElement('div');
    meters.className = 'vl-ba-meters';
    meters.append(micRow, outRow);
    root.append(title, status, enable, meters);
    el.append(root);
    if (!audio) {
      status.textContent = 'Browser audio did not start in this page (reload the page).';
      return () => root.remove();
    }
    const draw = () => {
      const [line, failing] = audio.statusLine();
      status.textContent = line;
      status.classList.toggle('vl-ba-problem', failing);
      root.dataset.mic = audio.mic.state;
      root.dataset.output = audio.output.state;
      enable.hidden = !(audio.context && audio.context.state === 'suspended');
    };
    const tick = () => {
      micFill.style.width = `${percent(audio.capture ? audio.stats.micLevel : 0)}%`;
      outFill.style.width = `${percent(audio.stats.playing ? audio.stats.outputLevel : 0)}%`;
    };
    audio.views.add(draw);
    draw();
    const timer = setInterval(tick, METER_MS);
    return () => {
      clearInterval(timer);
      audio.views.delete(draw);
      root.remove();
    };
  },
};
